package dev.vdisk.cli;

import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * qemu-nbd's {@code -s/--snapshot}: a temporary qcow2 overlay over the served image that takes every write, so the
 * image itself is only read; the caller deletes the overlay when the server ends.
 */
final class TemporaryOverlay {
  private TemporaryOverlay() {}

  /**
   * Creates an overlay in the temporary directory over the last export of {@code specs} (FILE's) and serves it
   * instead, writable unless that export was read-only.
   *
   * @return the overlay's path
   */
  static Path replaceLast(List<ExportSpec> specs) throws IOException {
    ExportSpec s = specs.getLast();
    Path base = Path.of(s.file()).toAbsolutePath();
    String format;
    long size;
    try (Image image = Vdisk.open(base, OpenOptions.builder().format(s.format()).readOnly(true).build())) {
      format = image.format();
      size = image.size();
    }
    Path overlay = Files.createTempFile("vdisk-snapshot-", ".qcow2");
    try {
      Vdisk.create(overlay, size, CreateOptions.qcow2().backing(base.toString(), format).build(), true);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(overlay);
      throw e;
    }
    specs.set(specs.size() - 1, new ExportSpec(s.name(), overlay.toString(), "qcow2", s.cache(), s.readOnly(),
        s.discard(), s.description(), s.detectZeroes(), s.bitmap(), s.allocationDepth(), s.offset(), s.aio(), null));
    return overlay;
  }
}
