package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The persistent dirty bitmaps' metadata as a check counts it (QEMU's {@code qcow2_check_bitmaps_refcounts}): the
 * bitmap directory ({@link BitmapEntry}), each bitmap's table and the clusters its table names. Table entries hold
 * a cluster offset in bits 9-55 (bit 0: "all ones" when the offset is 0).
 *
 * <p>{@link #read} refuses a directory that QEMU refuses when it opens the image ({@code bitmap_list_load},
 * {@code check_dir_entry}), so that qemu-img check cannot check it either and no writer trusts it. Memory: one
 * entry per bitmap, at most 65535 with names of at most 1023 bytes, and a 64 KiB slice of one bitmap table at a
 * time.
 *
 * @param directoryOffset where the directory starts
 * @param directorySize its length in bytes
 * @param entries the directory's entries, in order
 */
record BitmapTables(long directoryOffset, long directorySize, List<BitmapEntry> entries) {
  static final int MAX_BITMAPS = 65535;
  /** QEMU's limit: 1 KiB of directory for each of at most 65535 bitmaps. */
  static final long MAX_DIRECTORY_BYTES = 1024L * MAX_BITMAPS;
  /** QEMU's limit on a bitmap table: 2^27 entries. */
  static final long MAX_TABLE_ENTRIES = 0x800_0000L;
  static final int MIN_GRANULARITY_BITS = 9;
  static final int MAX_GRANULARITY_BITS = 31;
  static final int MAX_NAME_BYTES = 1023;
  /** QEMU's limit on the bitmap data one table names: 512 MiB. */
  static final long MAX_DATA_BYTES = 0x2000_0000L;
  private static final int FIXED = BitmapEntry.FIXED;
  static final long ENTRY_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  private static final long ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;
  static final long ENTRY_ALL_ONES = 1L;
  private static final int SLICE_ENTRIES = 8192;

  /**
   * The directory of an image as QEMU loads it: empty without a bitmaps extension, on a version 2 image, or when
   * the autoclear bit is clear (a program without bitmap support wrote the image: QEMU then ignores the bitmaps).
   */
  static Optional<BitmapTables> trusted(HostReader file, Qcow2Header header, HeaderExtensions ext) throws IOException {
    if (ext.bitmaps().isEmpty() || header.version() < 3 || (header.autoclearFeatures() & Features.AUTOCLEAR_BITMAPS) == 0) {
      return Optional.empty();
    }
    return Optional.of(read(file, ext.bitmaps().get(), header.clusterSize(), header.size()));
  }

  /**
   * Reads and checks the directory that {@code ext} describes, in an image of virtual size {@code virtualSize}.
   *
   * @throws IOException naming the first field QEMU would refuse
   */
  static BitmapTables read(HostReader file, HeaderExtensions.Bitmaps ext, int clusterSize, long virtualSize)
      throws IOException {
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
    List<BitmapEntry> entries = new ArrayList<>();
    long pos = 0;
    while (pos < size) {
      String where = "bitmap directory entry " + entries.size();
      if (entries.size() == n) {
        throw invalid(where, "present", "at most nb_bitmaps " + n + " entries");
      }
      if (size - pos < FIXED) {
        throw invalid(where, (size - pos) + " bytes", "at least " + FIXED + " inside the directory");
      }
      ByteBuffer f = ByteBuffer.allocate(FIXED);
      file.readData(offset + pos, f);
      long tableOffset = f.getLong(0);
      long tableSize = f.getInt(8) & 0xffff_ffffL;
      int flags = f.getInt(12);
      int type = f.get(16) & 0xff;
      int granularityBits = f.get(17) & 0xff;
      int nameSize = f.getShort(18) & 0xffff;
      long extra = f.getInt(20) & 0xffff_ffffL;
      if (tableSize == 0 || tableSize > MAX_TABLE_ENTRIES) {
        throw invalid(where + ": bitmap_table_size", tableSize, "1 to " + MAX_TABLE_ENTRIES);
      }
      if (tableOffset <= 0 || (tableOffset & (clusterSize - 1)) != 0) {
        throw invalid(where + ": bitmap_table_offset", Long.toUnsignedString(tableOffset),
            "a positive multiple of the cluster size " + clusterSize);
      }
      if (type != BitmapEntry.TYPE_DIRTY_TRACKING) {
        throw invalid(where + ": type", type, BitmapEntry.TYPE_DIRTY_TRACKING + ", a dirty tracking bitmap");
      }
      if (extra != 0) {
        throw invalid(where + ": extra_data_size", extra, "0");
      }
      if (granularityBits < MIN_GRANULARITY_BITS || granularityBits > MAX_GRANULARITY_BITS) {
        throw invalid(where + ": granularity_bits", granularityBits, MIN_GRANULARITY_BITS + " to " + MAX_GRANULARITY_BITS);
      }
      if ((flags & ~(BitmapEntry.FLAG_IN_USE | BitmapEntry.FLAG_AUTO)) != 0) {
        throw invalid(where + ": flags", Qcow2Errors.hex(flags & 0xffff_ffffL), "only bits 0 (in_use) and 1 (auto)");
      }
      if (nameSize > MAX_NAME_BYTES) {
        throw invalid(where + ": name_size", nameSize, "at most " + MAX_NAME_BYTES);
      }
      if (tableSize * clusterSize > MAX_DATA_BYTES) {
        throw invalid(where + ": bitmap_table_size", tableSize, "at most " + MAX_DATA_BYTES / clusterSize
            + " clusters of bitmap data (512 MiB)");
      }
      // A bitmap that is not in use must cover the disk; one left in use by a crash after a resize need not.
      long bits = tableSize * clusterSize * 8;
      long covered = bits > Long.MAX_VALUE >>> granularityBits ? Long.MAX_VALUE : bits << granularityBits;
      if ((flags & BitmapEntry.FLAG_IN_USE) == 0 && virtualSize > covered) {
        throw invalid(where + ": bitmap_table_size", tableSize, "a table covering the virtual size " + virtualSize);
      }
      long entryEnd = pos + FIXED + nameSize;
      if (entryEnd > size) {
        throw invalid(where + ": name_size", nameSize, "a name inside the directory");
      }
      ByteBuffer name = ByteBuffer.allocate(nameSize);
      file.readData(offset + pos + FIXED, name);
      entries.add(new BitmapEntry(tableOffset, tableSize, flags, granularityBits,
          new String(name.array(), StandardCharsets.UTF_8)));
      pos = (entryEnd + 7) & ~7L;
    }
    if (entries.size() != n) {
      throw invalid("bitmap directory", entries.size() + " entries", "nb_bitmaps " + n);
    }
    if (pos != size) {
      throw invalid("bitmap directory: bitmap_directory_size", size, "the end of its last entry, " + pos);
    }
    BitmapTables tables = new BitmapTables(offset, size, List.copyOf(entries));
    for (BitmapEntry e : tables.entries()) {
      // QEMU loads (and checks) the table of every bitmap not in use when it opens the image.
      long bad = e.inUse() ? -1 : tables.firstBadEntry(file, e, clusterSize);
      if (bad >= 0) {
        throw invalid("bitmap '" + e.name() + "': bitmap table entry " + bad, "reserved bits or a misaligned offset",
            "0, 1, or a cluster-aligned offset");
      }
    }
    return tables;
  }

  /** The index of the first entry of {@code e}'s table that {@link #validEntry} refuses, or -1. */
  private long firstBadEntry(HostReader file, BitmapEntry e, int clusterSize) throws IOException {
    ByteBuffer slice = ByteBuffer.allocate(SLICE_ENTRIES * 8);
    for (long done = 0; done < e.tableSize(); done += SLICE_ENTRIES) {
      int n = (int) Math.min(SLICE_ENTRIES, e.tableSize() - done);
      file.readData(e.tableOffset() + done * 8, slice.clear().limit(n * 8));
      for (int j = 0; j < n; j++) {
        if (!validEntry(slice.getLong(j * 8), clusterSize)) {
          return done + j;
        }
      }
    }
    return -1;
  }

  /**
   * QEMU's {@code check_table_entry}: no reserved bit, and an offset (if any) aligned to a cluster, without the
   * all-ones bit.
   */
  static boolean validEntry(long entry, int clusterSize) {
    long at = entry & ENTRY_OFFSET_MASK;
    return (entry & ENTRY_RESERVED_MASK) == 0
        && (at == 0 || (entry & ENTRY_ALL_ONES) == 0 && (at & (clusterSize - 1)) == 0);
  }

  /**
   * Adds the references of the directory, each table and each cluster a table names, as QEMU's check does: a table
   * with a bad entry is one corruption, and ends the counting (QEMU's {@code bitmap_table_load} fails and its check
   * stops there, so the clusters of the later bitmaps show as leaks).
   */
  void count(HostReader file, int clusterSize, ReferenceCounts refs, CheckTally tally) throws IOException {
    refs.add(directoryOffset, directorySize);
    ByteBuffer slice = ByteBuffer.allocate(SLICE_ENTRIES * 8);
    for (BitmapEntry t : entries) {
      refs.add(t.tableOffset(), t.tableSize() * 8);
      if (firstBadEntry(file, t, clusterSize) >= 0) {
        tally.corruptions++;
        return;
      }
      for (long done = 0; done < t.tableSize(); done += SLICE_ENTRIES) {
        int n = (int) Math.min(SLICE_ENTRIES, t.tableSize() - done);
        file.readData(t.tableOffset() + done * 8, slice.clear().limit(n * 8));
        for (int j = 0; j < n; j++) {
          long at = slice.getLong(j * 8) & ENTRY_OFFSET_MASK;
          if (at != 0) {
            refs.add(at, clusterSize);
          }
        }
      }
    }
  }
}
