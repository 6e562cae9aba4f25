package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.format.Bitmap;
import dev.vdisk.format.BitmapEdit;
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
  static void checkSource(Image source, boolean skipBroken) throws IOException {
    if (!source.supportsBitmaps()) {
      throw new CliException("Source lacks bitmap support");
    }
    if (!skipBroken) {
      for (Bitmap b : newestFirst(source)) {
        if (b.inUse()) {
          throw new CliException("Cannot copy inconsistent bitmap '" + b.name() + "'\nTry --skip-broken-bitmaps, or use "
              + "'qemu-img bitmap --remove' to delete it");
        }
      }
    }
  }

  /** Before the copy: the target can store bitmaps. */
  static void checkTarget(Image target) {
    if (!target.supportsBitmaps()) {
      throw new CliException("Format driver '" + target.format() + "' does not support bitmaps");
    }
  }

  /** After the copy: every consistent bitmap of {@code source} added to {@code target} and filled. */
  static void copy(Image source, Image target, PrintWriter err) throws IOException {
    List<Bitmap> all = source.bitmaps();
    for (Bitmap b : newestFirst(source)) {
      if (b.inUse()) {
        err.println("vdisk convert: warning: Skipping inconsistent bitmap '" + b.name() + "'");
      }
    }
    for (Bitmap b : all) {
      if (b.inUse()) {
        continue;
      }
      try {
        target.editBitmap(b.name(), BitmapEdit.add(b.granularity()));
        if (!b.auto()) {
          target.editBitmap(b.name(), BitmapEdit.of(BitmapEdit.Op.DISABLE));
        }
      } catch (BlockDeviceException e) {
        throw new CliException("Failed to create bitmap " + b.name() + ": " + e.getMessage());
      }
      try {
        target.editBitmap(b.name(), BitmapEdit.merge(b.name(), source));
      } catch (BlockDeviceException e) {
        target.editBitmap(b.name(), BitmapEdit.of(BitmapEdit.Op.REMOVE));
        throw new CliException("Failed to populate bitmap " + b.name() + ": " + e.getMessage());
      }
    }
  }

  private static List<Bitmap> newestFirst(Image image) throws IOException {
    List<Bitmap> list = new ArrayList<>(image.bitmaps());
    return list.reversed();
  }
}
