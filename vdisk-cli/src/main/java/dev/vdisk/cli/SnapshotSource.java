package dev.vdisk.cli;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.OpenImage;
import dev.vdisk.format.qcow2.Qcow2Format;
import dev.vdisk.format.SnapshotNotFoundException;
import dev.vdisk.nbd.server.Export;
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
    return open(image.device(), image.format().name(), spec);
  }

  /**
   * {@code export} serving snapshot {@code spec} of its image instead (qemu-nbd's {@code -l}; the export was opened
   * read-only): closing the export's device closes the snapshot, then the image.
   */
  static Export export(Export export, String spec) throws IOException {
    BlockDevice image = export.device();
    BlockDevice snapshot;
    try {
      FormatImage formatImage = FilterDevice.find(image, FormatImage.class);
      snapshot = open(image, formatImage == null ? "raw" : formatImage.format().name(), spec);
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
    BlockDevice device = new FilterDevice(snapshot) {
      @Override
      public void close() throws IOException {
        try {
          super.close();
        } finally {
          image.close();
        }
      }
    };
    return new Export(export.name(), export.description(), device, export.discard(), export.pageCacheWrites(),
        export.bitmap(), export.allocationDepth());
  }

  /** Snapshot {@code spec} of {@code image}, an image of {@code format} (guarded); close it before the image. */
  static BlockDevice open(BlockDevice image, String format, String spec) throws IOException {
    if (!format.equals("qcow2")) {
      throw new CliException("Failed to load snapshot: Block format '" + format
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
      return new CheckedDevice(Qcow2Format.openSnapshot(image, spec));
    } catch (SnapshotNotFoundException e) {
      throw new CliException("Failed to load snapshot: Can't find snapshot", e);
    }
  }
}
