package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One persistent dirty bitmap in memory: bit {@code g} covers guest bytes {@code [g << granularityBits, (g + 1) <<
 * granularityBits)}. On disk (qcow2 spec, "Bitmaps") the data is cut into clusters, cluster {@code k} holding the
 * bits of granules {@code k * clusterSize * 8} on, bit {@code g % 8} of byte {@code g / 8} (least significant
 * first): the order of a little-endian {@code long[]}, which is how it is kept here. A bitmap table entry names
 * each data cluster, or is 0 for a cluster of zeroes (1 for ones). Bits past the virtual size are always clear.
 * Thread-safe: writes mark it concurrently.
 */
final class DirtyBitmap {
  private final int granularityBits;
  private long[] words;
  private long size;
  /** Whether any bit or the size changed since the load. */
  private boolean modified;

  private DirtyBitmap(int granularityBits, long size) {
    this.granularityBits = granularityBits;
    this.size = size;
    this.words = new long[(int) wordsFor(size, granularityBits)];
  }

  /** An empty bitmap of a disk of {@code size} bytes. */
  static DirtyBitmap empty(int granularityBits, long size) {
    return new DirtyBitmap(granularityBits, size);
  }

  /** Memory one bitmap of a disk of {@code size} bytes takes, in bytes. */
  static long bytesFor(long size, int granularityBits) {
    return wordsFor(size, granularityBits) * 8;
  }

  private static long wordsFor(long size, int granularityBits) {
    return Math.ceilDiv(Math.ceilDiv(size, 1L << granularityBits), 64);
  }

  /** Guest bytes one data cluster of this bitmap covers. */
  static long bytesPerCluster(int clusterSize, int granularityBits) {
    return (long) clusterSize * 8 << granularityBits;
  }

  /**
   * Loads the data {@code entry}'s table names (its entries checked by {@link BitmapTables#read}) for a disk of
   * {@code size} bytes; memory: this bitmap, its table and one cluster at a time.
   */
  static DirtyBitmap load(HostReader file, BitmapEntry entry, int clusterSize, long size) throws IOException {
    DirtyBitmap bitmap = new DirtyBitmap(entry.granularityBits(), size);
    int wordsPerCluster = clusterSize / 8;
    long clusters = Math.ceilDiv(bitmap.words.length, (long) wordsPerCluster);
    if (clusters > entry.tableSize()) {
      throw invalid("bitmap '" + entry.name() + "': bitmap_table_size", entry.tableSize(),
          "at least " + clusters + " entries for the virtual size " + size);
    }
    ByteBuffer table = file.readMetadata("bitmap table of '" + entry.name() + "'", entry.tableOffset(), (int) clusters * 8);
    ByteBuffer cluster = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
    for (int k = 0; k < clusters; k++) {
      long e = table.getLong(k * 8);
      long at = e & BitmapTables.ENTRY_OFFSET_MASK;
      int from = k * wordsPerCluster;
      int to = Math.min(bitmap.words.length, from + wordsPerCluster);
      if (at != 0) {
        file.readData(at, cluster.clear());
        cluster.flip().asLongBuffer().get(bitmap.words, from, to - from);
      } else if (e == BitmapTables.ENTRY_ALL_ONES) {
        Arrays.fill(bitmap.words, from, to, -1L);
      }
    }
    bitmap.clearPastEnd();
    return bitmap;
  }

  /** Marks every granule {@code [offset, offset + length)} touches (clamped to the disk). */
  synchronized void set(long offset, long length) {
    long end = Math.min(offset + length, size);
    if (length <= 0 || offset >= end) {
      return;
    }
    long first = offset >>> granularityBits;
    long last = (end - 1) >>> granularityBits;
    for (long g = first; g <= last; ) {
      int w = (int) (g >>> 6);
      int bit = (int) (g & 63);
      int n = (int) Math.min(64 - bit, last - g + 1);
      long mask = n == 64 ? -1L : ((1L << n) - 1) << bit;
      modified |= (words[w] & mask) != mask;
      words[w] |= mask;
      g += n;
    }
  }

  /** Follows a resize as QEMU's {@code hbitmap_truncate}: granules past a smaller size are dropped, new ones are clear. */
  synchronized void resize(long newSize) {
    modified |= newSize != size;
    words = Arrays.copyOf(words, (int) wordsFor(newSize, granularityBits));
    size = newSize;
    clearPastEnd();
  }

  /** Whether granule {@code g} is set. */
  synchronized boolean get(long g) {
    return g < (long) words.length * 64 && (words[(int) (g >>> 6)] >>> (g & 63) & 1) != 0;
  }

  /**
   * Runs covering exactly {@code [offset, offset + length)} within the disk, each {@code {offset, length, 1}} where
   * its granules are set and {@code {offset, length, 0}} where they are clear, alternating.
   */
  synchronized List<long[]> runs(long offset, long length) {
    List<long[]> out = new ArrayList<>();
    long end = Math.min(offset + length, size);
    for (long pos = offset; pos < end; ) {
      long g = pos >>> granularityBits;
      boolean dirty = get(g);
      long next = g + 1;
      while (next << granularityBits < end && get(next) == dirty) {
        next++;
      }
      long runEnd = Math.min(end, next << granularityBits);
      out.add(new long[] {pos, runEnd - pos, dirty ? 1 : 0});
      pos = runEnd;
    }
    return out;
  }

  /** The number of granules of the disk. */
  synchronized long granules() {
    return Math.ceilDiv(size, 1L << granularityBits);
  }

  /** Clears every bit. */
  synchronized void clear() {
    for (long w : words) {
      modified |= w != 0;
    }
    Arrays.fill(words, 0);
  }

  /** Sets every granule that a set granule of {@code source} (a bitmap of a disk of the same size) covers. */
  void merge(DirtyBitmap source) {
    long unit = 1L << source.granularityBits;
    long granules = source.granules();
    for (long g = 0; g < granules; g++) {
      long first = g;
      while (g < granules && source.get(g)) {
        g++;
      }
      if (g > first) {
        set(first * unit, (g - first) * unit);
      }
    }
  }

  /** The size of the disk the bitmap covers. */
  synchronized long size() {
    return size;
  }

  synchronized boolean modified() {
    return modified;
  }

  int granularityBits() {
    return granularityBits;
  }

  /** Bitmap table entries a disk of this bitmap's size needs. */
  synchronized long tableSize(int clusterSize) {
    return Math.ceilDiv(Math.max(1, words.length), (long) clusterSize / 8);
  }

  /**
   * The bytes of data cluster {@code k} ({@code clusterSize} of them), or null if all its bits are clear (QEMU
   * stores no cluster then).
   */
  synchronized ByteBuffer cluster(int k, int clusterSize) {
    int per = clusterSize / 8;
    int from = k * per;
    int to = Math.min(words.length, from + per);
    boolean any = false;
    for (int i = from; i < to && !any; i++) {
      any = words[i] != 0;
    }
    if (!any) {
      return null;
    }
    ByteBuffer out = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
    out.asLongBuffer().put(words, from, to - from);
    return out;
  }

  private void clearPastEnd() {
    long granules = Math.ceilDiv(size, 1L << granularityBits);
    int w = (int) (granules >>> 6);
    if (w < words.length) {
      words[w] &= (1L << (granules & 63)) - 1;
      Arrays.fill(words, w + 1, words.length, 0);
    }
  }
}
