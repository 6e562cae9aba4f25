package dev.vdisk.cli;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.format.qcow2.Qcow2Format;
import dev.vdisk.format.qcow2.Qcow2Format.BitmapAction;
import dev.vdisk.format.qcow2.Qcow2Format.BitmapInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code convert --bitmaps [--skip-broken-bitmaps]}: the source's persistent bitmaps are added to the target after
 * the data is copied, each with its name, granularity and enabled state, and filled from the source, as qemu-img's
 * {@code convert_copy_bitmaps} does; with qemu-img's checks and messages. QEMU reports bitmaps newest first.
 */
final class ConvertBitmaps {
  private ConvertBitmaps() {}

  /** Before anything is created: the source can have bitmaps, and none is inconsistent unless they are skipped. */
  static void checkSource(BlockDevice source, boolean skipBroken) throws IOException {
    if (!Qcow2Format.supportsBitmaps(source)) {
      throw new CliException("Source lacks bitmap support");
    }
    if (!skipBroken) {
      for (BitmapInfo b : newestFirst(source)) {
        if (b.inUse()) {
          throw new CliException("Cannot copy inconsistent bitmap '" + b.name() + "'\nTry --skip-broken-bitmaps, or use "
              + "'qemu-img bitmap --remove' to delete it");
        }
      }
    }
  }

  /** Before the copy: the target can store bitmaps. */
  static void checkTarget(BlockDevice target, String format) {
    if (!Qcow2Format.supportsBitmaps(target)) {
      throw new CliException("Format driver '" + format + "' does not support bitmaps");
    }
  }

  /** After the copy: every consistent bitmap of {@code source} added to {@code target} and filled. */
  static void copy(BlockDevice source, BlockDevice target, PrintWriter err) throws IOException {
    List<BitmapInfo> all = Qcow2Format.bitmaps(source);
    for (BitmapInfo b : newestFirst(source)) {
      if (b.inUse()) {
        err.println("vdisk convert: warning: Skipping inconsistent bitmap '" + b.name() + "'");
      }
    }
    for (BitmapInfo b : all) {
      if (b.inUse()) {
        continue;
      }
      try {
        Qcow2Format.editBitmap(target, b.name(), new BitmapAction("add", b.granularity(), null, null));
        if (!b.auto()) {
          Qcow2Format.editBitmap(target, b.name(), new BitmapAction("disable", 0, null, null));
        }
      } catch (BlockDeviceException e) {
        throw new CliException("Failed to create bitmap " + b.name() + ": " + e.getMessage());
      }
      try {
        Qcow2Format.editBitmap(target, b.name(), new BitmapAction("merge", 0, b.name(), source));
      } catch (BlockDeviceException e) {
        Qcow2Format.editBitmap(target, b.name(), new BitmapAction("remove", 0, null, null));
        throw new CliException("Failed to populate bitmap " + b.name() + ": " + e.getMessage());
      }
    }
  }

  private static List<BitmapInfo> newestFirst(BlockDevice image) throws IOException {
    List<BitmapInfo> list = new ArrayList<>(Qcow2Format.bitmaps(image));
    return list.reversed();
  }
}
