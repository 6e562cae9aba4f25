package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Counts the clusters persistent dirty bitmaps use: the bitmap directory, each bitmap's table and the clusters its
 * table names (QEMU's {@code qcow2_check_bitmaps_refcounts}). Directory entries are
 *
 * <pre>
 * 0-7 bitmap_table_offset  8-11 bitmap_table_size (entries)  12-15 flags  16 type  17 granularity_bits
 * 18-19 name_size  20-23 extra_data_size, then extra data and name, padded to a multiple of 8
 * </pre>
 *
 * and table entries hold a cluster offset in bits 9-55 (bit 0: "all ones" when the offset is 0). Memory: one
 * directory entry and a 64 KiB slice of a bitmap table at a time.
 */
final class BitmapTables {
  /** QEMU's limit: 1 KiB of directory for each of at most 65535 bitmaps. */
  static final long MAX_DIRECTORY_BYTES = 1024L * 65535;
  private static final int FIXED = 24;
  private static final long ENTRY_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  private static final long ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;
  private static final long ENTRY_ALL_ONES = 1L;
  private static final int SLICE_ENTRIES = 8192;

  private BitmapTables() {}

  /**
   * Adds the references of the bitmaps in {@code bitmaps}.
   *
   * @throws IOException for a directory QEMU cannot load either, which stops its check
   */
  static void count(HostReader file, HeaderExtensions.Bitmaps bitmaps, int clusterSize, ReferenceCounts refs,
      CheckTally tally) throws IOException {
    long dirOffset = bitmaps.directoryOffset();
    long dirSize = bitmaps.directorySize();
    refs.add(dirOffset, dirSize);
    if (dirSize <= 0 || dirSize > MAX_DIRECTORY_BYTES || dirOffset < 0) {
      tally.corruptions++;
      throw invalid("bitmap directory size", Long.toUnsignedString(dirSize), "1 to " + MAX_DIRECTORY_BYTES + " bytes");
    }
    long pos = dirOffset;
    long end = dirOffset + dirSize;
    for (long i = 0; i < bitmaps.nbBitmaps(); i++) {
      if (end - pos < FIXED) {
        tally.corruptions++;
        throw invalid("bitmap directory entry " + i, "past the directory's " + dirSize + " bytes", "inside the directory");
      }
      ByteBuffer f = ByteBuffer.allocate(FIXED);
      file.readData(pos, f);
      long tableOffset = f.getLong(0);
      long tableSize = f.getInt(8) & 0xffff_ffffL;
      int nameSize = f.getShort(18) & 0xffff;
      long extra = f.getInt(20) & 0xffff_ffffL;
      refs.add(tableOffset, tableSize * 8);
      countTable(file, i, tableOffset, tableSize, clusterSize, refs, tally);
      pos = (pos + FIXED + extra + nameSize + 7) & ~7L;
    }
  }

  private static void countTable(HostReader file, long bitmap, long offset, long entries, int clusterSize,
      ReferenceCounts refs, CheckTally tally) throws IOException {
    if (offset < 0 || (offset & (clusterSize - 1)) != 0) {
      tally.corruptions++;
      throw invalid("bitmap " + bitmap + ": bitmap_table_offset", Long.toUnsignedString(offset),
          "a multiple of the cluster size " + clusterSize);
    }
    ByteBuffer slice = ByteBuffer.allocate(SLICE_ENTRIES * 8);
    for (long done = 0; done < entries; done += SLICE_ENTRIES) {
      int n = (int) Math.min(SLICE_ENTRIES, entries - done);
      file.readData(offset + done * 8, slice.clear().limit(n * 8));
      for (int j = 0; j < n; j++) {
        long entry = slice.getLong(j * 8);
        long at = entry & ENTRY_OFFSET_MASK;
        boolean bad = (entry & ENTRY_RESERVED_MASK) != 0
            || (at != 0 && ((entry & ENTRY_ALL_ONES) != 0 || (at & (clusterSize - 1)) != 0));
        if (bad) {
          tally.corruptions++;
        } else if (at != 0) {
          refs.add(at, clusterSize);
        }
      }
    }
  }
}
