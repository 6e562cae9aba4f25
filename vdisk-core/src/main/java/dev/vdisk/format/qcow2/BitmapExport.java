package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.BitmapRuns;
import java.io.IOException;

/** A persistent bitmap of a qcow2 image as an export offers it: see {@link Qcow2Image#bitmapRuns}. */
final class BitmapExport {
  private BitmapExport() {}

  /**
   * Bitmap {@code name} of {@code q}: the one kept in memory for a writable image (which its writes keep marking, if
   * it is enabled), else read from the file now.
   *
   * @throws BlockDeviceException EINVAL, qemu-nbd's messages: a bitmap that is not found, or in use (inconsistent)
   */
  static BitmapRuns of(Qcow2Image q, String name) throws IOException {
    PersistentBitmaps kept = q.persistentBitmaps();
    if (kept != null) {
      for (PersistentBitmaps.Slot s : kept.slots()) {
        if (s.entry.name().equals(name)) {
          return usable(s.bits, name)::runs;
        }
      }
    } else {
      for (BitmapEntry e : q.bitmaps()) {
        if (e.name().equals(name)) {
          return usable(e.inUse() ? null : q.loadBitmap(e), name)::runs;
        }
      }
    }
    throw new BlockDeviceException(BlockError.EINVAL, "Bitmap '" + name + "' is not found");
  }

  private static DirtyBitmap usable(DirtyBitmap bits, String name) throws BlockDeviceException {
    if (bits == null) {
      throw new BlockDeviceException(BlockError.EINVAL, "Bitmap '" + name + "' is inconsistent and cannot be used");
    }
    return bits;
  }
}
