package dev.vdisk.ops.internal;

import dev.vdisk.ops.ConvertOptions;
import java.nio.ByteBuffer;

/**
 * Finds the runs of a data buffer that {@code qemu-img convert} writes as data and the runs it skips (or
 * zeroes) as sparse: a port of qemu-img's {@code is_allocated_sectors_min}, so that vdisk's outputs are
 * allocated exactly where qemu-img's are. It works in 512-byte sectors, ignores runs of zero sectors shorter
 * than the threshold inside data, and aligns run ends to the target's alignment (data ends round up, zero
 * ends round down).
 */
final class SparseScanner {
  static final int SECTOR = ConvertOptions.SECTOR;

  private final int minSectors;
  private final int alignment;

  /**
   * @param minSectors the {@code -S} threshold in sectors, positive
   * @param alignment sectors, a power of two: qemu-img's {@code MAX(pow2floor(min_sparse), request_alignment / 512)}
   */
  SparseScanner(int minSectors, int alignment) {
    if (minSectors < 1 || alignment < 1 || Integer.bitCount(alignment) != 1) {
      throw new IllegalArgumentException("sparse scanner: min " + minSectors + " alignment " + alignment
          + " (expected: min >= 1, alignment a power of two)");
    }
    this.minSectors = minSectors;
    this.alignment = alignment;
  }

  /** qemu-img's alignment for a threshold and the target's request alignment in bytes. */
  static int alignment(int minSectors, int targetRequestAlignment) {
    return Math.max(Integer.highestOneBit(minSectors), Math.ceilDiv(targetRequestAlignment, SECTOR));
  }

  /**
   * The run at the start of {@code buf[from, from + bytes)}: positive = that many sectors to write as data,
   * negative = that many sectors to treat as zeroes. A partial last sector counts as a sector.
   *
   * @param sectorNum the absolute sector number of {@code from} in the image (for alignment)
   */
  int next(ByteBuffer buf, int from, int bytes, long sectorNum) {
    int n = Math.ceilDiv(bytes, SECTOR);
    int min = Math.min(minSectors, n);
    int first = allocated(buf, from, bytes, n, sectorNum);
    if (first < 0) {
      return first;
    }
    int used = first;
    int checked = first;
    while (checked < n) {
      int r = allocated(buf, from + checked * SECTOR, bytes - checked * SECTOR, n - checked, sectorNum + checked);
      checked += Math.abs(r);
      if (r > 0) {
        used = checked;
      } else if (-r >= min) {
        break;
      }
    }
    return used;
  }

  /** qemu-img's is_allocated_sectors: the aligned run of equal zero-ness at the start, signed as in {@link #next}. */
  private int allocated(ByteBuffer buf, int from, int bytes, int n, long sectorNum) {
    boolean isZero = isZeroSector(buf, from, bytes, 0);
    int i = 1;
    while (i < n && isZeroSector(buf, from, bytes, i) == isZero) {
      i++;
    }
    if (i == n) {
      // QEMU 7.0 on: a buffer all of one kind is one run, unaligned or not (zeroes may join the next chunk's).
      return isZero ? -i : i;
    }
    int tail = (int) ((sectorNum + i) & (alignment - 1));
    if (tail != 0) {
      if (isZero && i <= tail) {
        isZero = false; // a short zero run that does not reach an aligned boundary: write it with the data
      }
      if (!isZero) {
        i = Math.min(i + alignment - tail, n);
      } else {
        i -= tail;
      }
    }
    return isZero ? -i : i;
  }

  private static boolean isZeroSector(ByteBuffer buf, int from, int bytes, int sector) {
    int start = from + sector * SECTOR;
    int len = Math.min(SECTOR, bytes - sector * SECTOR);
    return isZero(buf, start, len);
  }

  /** True if {@code buf[from, from + len)} holds only zero bytes. */
  static boolean isZero(ByteBuffer buf, int from, int len) {
    int i = from;
    int end = from + len;
    for (; i + Long.BYTES <= end; i += Long.BYTES) {
      if (buf.getLong(i) != 0) { // zero in either byte order
        return false;
      }
    }
    for (; i < end; i++) {
      if (buf.get(i) != 0) {
        return false;
      }
    }
    return true;
  }
}
