package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The persistent dirty bitmaps' metadata as a check counts it (QEMU's {@code qcow2_check_bitmaps_refcounts}): the
 * bitmap directory, each bitmap's table and the clusters its table names. Directory entries are
 *
 * <pre>
 * 0-7 bitmap_table_offset  8-11 bitmap_table_size (entries)  12-15 flags  16 type  17 granularity_bits
 * 18-19 name_size  20-23 extra_data_size, then extra data and name, padded to a multiple of 8
 * </pre>
 *
 * and table entries hold a cluster offset in bits 9-55 (bit 0: "all ones" when the offset is 0).
 *
 * <p>{@link #read} refuses a directory that QEMU refuses when it opens the image (so that qemu-img check cannot
 * check it either). Memory: one entry (table offset and size) per bitmap, at most 65535, and a 64 KiB slice of one
 * bitmap table at a time.
 *
 * @param directoryOffset where the directory starts
 * @param directorySize its length in bytes
 * @param tables each bitmap's table: {@code {offset, entries}}
 */
record BitmapTables(long directoryOffset, long directorySize, List<long[]> tables) {
  static final int MAX_BITMAPS = 65535;
  /** QEMU's limit: 1 KiB of directory for each of at most 65535 bitmaps. */
  static final long MAX_DIRECTORY_BYTES = 1024L * MAX_BITMAPS;
  /** QEMU's limit on a bitmap table: 2^27 entries. */
  static final long MAX_TABLE_ENTRIES = 0x800_0000L;
  private static final int FIXED = 24;
  private static final int DIRTY_TRACKING = 1;
  private static final long ENTRY_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  private static final long ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;
  private static final long ENTRY_ALL_ONES = 1L;
  private static final int SLICE_ENTRIES = 8192;

  /**
   * Reads and checks the directory that {@code ext} describes.
   *
   * @throws IOException naming the first field QEMU would refuse
   */
  static BitmapTables read(HostReader file, HeaderExtensions.Bitmaps ext, int clusterSize) throws IOException {
    long n = ext.nbBitmaps();
    long offset = ext.directoryOffset();
    long size = ext.directorySize();
    if (n == 0 || n > MAX_BITMAPS) {
      throw invalid("bitmaps extension: nb_bitmaps", n, "1 to " + MAX_BITMAPS);
    }
    if (offset < 0 || (offset & (clusterSize - 1)) != 0) {
      throw invalid("bitmaps extension: bitmap_directory_offset", Long.toUnsignedString(offset),
          "a multiple of the cluster size " + clusterSize);
    }
    if (size <= 0 || size > MAX_DIRECTORY_BYTES) {
      throw invalid("bitmaps extension: bitmap_directory_size", Long.toUnsignedString(size), "1 to " + MAX_DIRECTORY_BYTES);
    }
    List<long[]> tables = new ArrayList<>();
    long pos = 0;
    while (pos < size) {
      String where = "bitmap directory entry " + tables.size();
      if (tables.size() == n) {
        throw invalid(where, "present", "at most nb_bitmaps " + n + " entries");
      }
      if (size - pos < FIXED) {
        throw invalid(where, (size - pos) + " bytes", "at least " + FIXED + " inside the directory");
      }
      ByteBuffer f = ByteBuffer.allocate(FIXED);
      file.readData(offset + pos, f);
      long tableOffset = f.getLong(0);
      long tableSize = f.getInt(8) & 0xffff_ffffL;
      int type = f.get(16) & 0xff;
      int nameSize = f.getShort(18) & 0xffff;
      long extra = f.getInt(20) & 0xffff_ffffL;
      if (tableSize == 0 || tableSize > MAX_TABLE_ENTRIES) {
        throw invalid(where + ": bitmap_table_size", tableSize, "1 to " + MAX_TABLE_ENTRIES);
      }
      if (tableOffset <= 0 || (tableOffset & (clusterSize - 1)) != 0) {
        throw invalid(where + ": bitmap_table_offset", Long.toUnsignedString(tableOffset),
            "a positive multiple of the cluster size " + clusterSize);
      }
      if (type != DIRTY_TRACKING) {
        throw invalid(where + ": type", type, DIRTY_TRACKING + ", a dirty tracking bitmap");
      }
      if (extra != 0) {
        throw invalid(where + ": extra_data_size", extra, "0");
      }
      long entryEnd = pos + FIXED + nameSize;
      if (entryEnd > size) {
        throw invalid(where + ": name_size", nameSize, "a name inside the directory");
      }
      tables.add(new long[] {tableOffset, tableSize});
      pos = (entryEnd + 7) & ~7L;
    }
    if (tables.size() != n) {
      throw invalid("bitmap directory", tables.size() + " entries", "nb_bitmaps " + n);
    }
    return new BitmapTables(offset, size, List.copyOf(tables));
  }

  /** Adds the references of the directory, each table and each cluster a table names; bad table entries are corruptions. */
  void count(HostReader file, int clusterSize, ReferenceCounts refs, CheckTally tally) throws IOException {
    refs.add(directoryOffset, directorySize);
    ByteBuffer slice = ByteBuffer.allocate(SLICE_ENTRIES * 8);
    for (long[] t : tables) {
      refs.add(t[0], t[1] * 8);
      for (long done = 0; done < t[1]; done += SLICE_ENTRIES) {
        int n = (int) Math.min(SLICE_ENTRIES, t[1] - done);
        file.readData(t[0] + done * 8, slice.clear().limit(n * 8));
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
}
