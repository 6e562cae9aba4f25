package dev.vdisk.cli;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.format.OpenImage;
import dev.vdisk.format.qcow2.Qcow2Format;
import dev.vdisk.format.qcow2.SnapshotNotFoundException;
import java.io.IOException;

/**
 * An internal snapshot of an open source image as {@code qemu-img convert -l} and {@code qemu-nbd -l} read it:
 * read-only, not applied, at the image's current virtual size ({@link Qcow2Format#openSnapshot}), with qemu-img's
 * messages for what cannot be loaded.
 */
final class SnapshotSource {
  private SnapshotSource() {}

  /** Snapshot {@code spec} of {@code image}, guarded as the image itself is; close it before the image. */
  static BlockDevice open(OpenImage image, String spec) throws IOException {
    if (!image.format().name().equals("qcow2")) {
      throw new CliException("Failed to load snapshot: Block format '" + image.format().name()
          + "' used by device '' does not support temporarily loading internal snapshots");
    }
    if (spec.startsWith("snapshot.")) {
      for (String part : spec.split(",")) {
        if (!part.startsWith("snapshot.id=") && !part.startsWith("snapshot.name=")) {
          throw new CliException("Invalid parameter '" + part.split("=", 2)[0] + "' (expected: snapshot.id=ID or "
              + "snapshot.name=NAME)");
        }
      }
    }
    try {
      return new CheckedDevice(Qcow2Format.openSnapshot(image.device(), spec));
    } catch (SnapshotNotFoundException e) {
      throw new CliException("Failed to load snapshot: Can't find snapshot", e);
    }
  }
}
