package dev.vdisk.format;

import java.util.List;

/** A persistent dirty bitmap as an export offers it (qemu-nbd -B): its set and clear runs over the guest. */
@FunctionalInterface
public interface BitmapRuns {
  /**
   * Runs covering exactly {@code [offset, offset + length)} within the image, in order, each {@code {offset, length,
   * 1}} where the bitmap is set and {@code {offset, length, 0}} where it is clear.
   */
  List<long[]> runs(long offset, long length);
}
