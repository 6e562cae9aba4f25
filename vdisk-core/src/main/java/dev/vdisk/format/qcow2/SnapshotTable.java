package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.format.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The internal snapshot table: nb_snapshots variable-length entries from snapshots_offset. Each entry is a
 * 40-byte fixed part, extra data, the ID and the name, padded to a multiple of 8:
 *
 * <pre>
 *  0-7 l1_table_offset  8-11 l1_size  12-13 id_str_size  14-15 name_size  16-19 date_sec  20-23 date_nsec
 * 24-31 vm_clock_nsec  32-35 vm_state_size  36-39 extra_data_size
 * extra data: 0-7 vm_state_size_large  8-15 disk_size  16-23 icount (each present if the extra data is long enough)
 * </pre>
 *
 * Entries are read one at a time, so memory is bounded by the entries' own sizes, and the table by QEMU's limits.
 */
final class SnapshotTable {
  private static final int FIXED = 40;
  /** QEMU's limit on one entry's extra data. */
  static final int MAX_EXTRA_DATA = 1024;
  /** QEMU's limit on the whole table: 1 KiB per snapshot, 64 MiB. */
  static final long MAX_TABLE_BYTES = 1024 * Qcow2Header.MAX_SNAPSHOTS;

  private SnapshotTable() {}

  /**
   * One entry as the table stores it.
   *
   * @param snapshot what {@code info} lists
   * @param l1TableOffset where the snapshot's L1 table is (unchecked)
   * @param l1Size its entries (unchecked)
   */
  record Entry(Snapshot snapshot, long l1TableOffset, long l1Size) {}

  /**
   * The table as stored.
   *
   * @param entries in table order
   * @param tableBytes from snapshots_offset to the end of the last entry (its padding excluded)
   */
  record Parsed(List<Entry> entries, long tableBytes) {}

  /** Reads the table, checking each snapshot's L1 table location, and claims the table's bytes in {@code layout}. */
  static List<Snapshot> read(HostReader file, Qcow2Header header, Layout layout) throws IOException {
    Parsed parsed = parse(file, header, false);
    for (int i = 0; i < parsed.entries().size(); i++) {
      Entry e = parsed.entries().get(i);
      checkL1("snapshot table entry " + i, e.l1TableOffset(), e.l1Size(), header.clusterSize(), layout);
    }
    if (!parsed.entries().isEmpty()) {
      layout.claim("snapshot table", header.snapshotsOffset(), parsed.tableBytes());
    }
    return parsed.entries().stream().map(Entry::snapshot).toList();
  }

  /**
   * Parses the entries without checking where their L1 tables are. {@code lenient}: bytes past the end of the file
   * read as zeroes, as QEMU's check reads them; otherwise an entry past the end is an error. Either way an entry
   * with more extra data, or a table larger, than QEMU accepts is an error.
   */
  static Parsed parse(HostReader file, Qcow2Header header, boolean lenient) throws IOException {
    long start = header.snapshotsOffset();
    long pos = start;
    long end = start;
    List<Entry> out = new ArrayList<>((int) Math.min(header.nbSnapshots(), 1024));
    for (int i = 0; i < header.nbSnapshots(); i++) {
      if (pos - start > MAX_TABLE_BYTES) {
        throw invalid("snapshot table size", "over " + (pos - start) + " bytes at entry " + i, "at most " + MAX_TABLE_BYTES + ", QEMU's limit");
      }
      String where = "snapshot table entry " + i;
      ByteBuffer f = read(file, lenient, where, pos, FIXED);
      long l1Offset = f.getLong(0);
      long l1Size = u32(f, 8);
      int idSize = f.getShort(12) & 0xffff;
      int nameSize = f.getShort(14) & 0xffff;
      long dateSec = u32(f, 16);
      long dateNsec = u32(f, 20);
      long vmClockNsec = f.getLong(24);
      long vmStateSize = u32(f, 32);
      long extraSize = u32(f, 36);
      if (extraSize > MAX_EXTRA_DATA) {
        throw invalid(where + ": extra_data_size", extraSize, "at most " + MAX_EXTRA_DATA);
      }
      int varSize = (int) extraSize + idSize + nameSize;
      ByteBuffer v = read(file, lenient, where, pos + FIXED, varSize);
      long diskSize = header.size();
      long icount = -1;
      if (extraSize >= 8) {
        vmStateSize = v.getLong(0);
      }
      if (extraSize >= 16) {
        diskSize = v.getLong(8);
      }
      if (extraSize >= 24) {
        icount = v.getLong(16);
      }
      String id = string(v, (int) extraSize, idSize);
      String name = string(v, (int) extraSize + idSize, nameSize);
      out.add(new Entry(new Snapshot(id, name, diskSize, vmStateSize, dateSec, dateNsec, vmClockNsec, icount), l1Offset, l1Size));
      end = pos + FIXED + varSize;
      pos = (end + 7) & ~7L;
    }
    return new Parsed(List.copyOf(out), end - start);
  }

  private static ByteBuffer read(HostReader file, boolean lenient, String where, long offset, int length) throws IOException {
    if (!lenient) {
      return file.readMetadata(where, offset, length);
    }
    ByteBuffer b = ByteBuffer.allocate(length);
    file.readData(offset, b);
    return b.flip();
  }

  private static void checkL1(String where, long offset, long entries, int clusterSize, Layout layout) throws IOException {
    if (entries > Qcow2Header.MAX_L1_BYTES / 8) {
      throw invalid(where + ": l1_size", entries, "at most " + Qcow2Header.MAX_L1_BYTES / 8 + " entries, QEMU's 32 MiB L1 limit");
    }
    if (entries > 0 && (offset <= 0 || (offset & (clusterSize - 1)) != 0)) {
      throw invalid(where + ": l1_table_offset", Long.toUnsignedString(offset), "a positive multiple of the cluster size " + clusterSize);
    }
    layout.check(where + ": L1 table", offset, entries * 8);
  }

  private static long u32(ByteBuffer b, int at) {
    return b.getInt(at) & 0xffffffffL;
  }

  private static String string(ByteBuffer b, int at, int length) {
    byte[] raw = new byte[length];
    b.get(at, raw);
    return new String(raw, StandardCharsets.UTF_8);
  }
}
