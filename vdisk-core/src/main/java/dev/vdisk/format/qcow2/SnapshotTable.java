package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.format.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

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
  /** The extra data QEMU 7.2 writes and reads: vm_state_size_large, disk_size, icount. */
  static final int KNOWN_EXTRA = 24;
  /** QEMU's limit on the whole table: 1 KiB per snapshot, 64 MiB. */
  static final long MAX_TABLE_BYTES = 1024 * Qcow2Header.MAX_SNAPSHOTS;

  private SnapshotTable() {}

  /**
   * One entry as the table stores it.
   *
   * @param snapshot what {@code info} lists
   * @param l1TableOffset where the snapshot's L1 table is (unchecked)
   * @param l1Size its entries (unchecked)
   * @param unknownExtra the extra data past the 24 bytes QEMU 7.2 knows, kept when the table is rewritten
   * @param extraBytes the extra data the entry stores (a repair's parse: at most {@link #MAX_EXTRA_DATA})
   */
  record Entry(Snapshot snapshot, long l1TableOffset, long l1Size, byte[] unknownExtra, long extraBytes) {
    /** An entry as {@link #encode} writes it: the known extra data, then the unknown. */
    Entry(Snapshot snapshot, long l1TableOffset, long l1Size, byte[] unknownExtra) {
      this(snapshot, l1TableOffset, l1Size, unknownExtra, KNOWN_EXTRA + unknownExtra.length);
    }

    /**
     * True if the entry lacks the 16 bytes of extra data (large VM state size, disk size) that every entry of a
     * version 3 image must have: QEMU's check calls it incomplete, and its repair rewrites it whole.
     */
    boolean incomplete() {
      return extraBytes < 16;
    }
  }

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
    return parse(file, header, lenient, null);
  }

  /**
   * {@link #parse(HostReader, Qcow2Header, boolean)} as QEMU's repair reads the table ({@code qcow2_do_read_snapshots}
   * with repair): where {@code discarding} is not null, an entry with more extra data than QEMU accepts keeps its first
   * {@link #MAX_EXTRA_DATA} bytes instead of failing the parse, {@code discarding} receives QEMU's line for it, and the
   * entry's ID and name are still read after all of its extra data.
   */
  static Parsed parse(HostReader file, Qcow2Header header, boolean lenient, Consumer<String> discarding)
      throws IOException {
    return parse(file, header, lenient, discarding, header.nbSnapshots());
  }

  /** {@link #parse(HostReader, Qcow2Header, boolean, Consumer)} of the first {@code count} entries only. */
  static Parsed parse(HostReader file, Qcow2Header header, boolean lenient, Consumer<String> discarding, long count)
      throws IOException {
    long start = header.snapshotsOffset();
    long pos = start;
    long end = start;
    List<Entry> out = new ArrayList<>((int) Math.min(count, 1024));
    for (int i = 0; i < count; i++) {
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
      long storedExtra = extraSize;
      if (extraSize > MAX_EXTRA_DATA) {
        if (discarding == null) {
          throw invalid(where + ": extra_data_size", extraSize, "at most " + MAX_EXTRA_DATA);
        }
        discarding.accept("Discarding too much extra metadata in snapshot table entry " + i + " (" + extraSize + " > "
            + MAX_EXTRA_DATA + ")");
        extraSize = MAX_EXTRA_DATA;
      }
      ByteBuffer v = read(file, lenient, where, pos + FIXED, (int) extraSize);
      ByteBuffer names = read(file, lenient, where, pos + FIXED + storedExtra, idSize + nameSize);
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
      byte[] unknown = new byte[(int) Math.max(0, extraSize - KNOWN_EXTRA)];
      if (unknown.length > 0) {
        v.get(KNOWN_EXTRA, unknown);
      }
      String id = string(names, 0, idSize);
      String name = string(names, idSize, nameSize);
      out.add(new Entry(new Snapshot(id, name, diskSize, vmStateSize, dateSec, dateNsec, vmClockNsec, icount), l1Offset, l1Size,
          unknown, extraSize));
      end = pos + FIXED + storedExtra + idSize + nameSize;
      pos = (end + 7) & ~7L;
    }
    return new Parsed(List.copyOf(out), end - start);
  }

  /**
   * The table as QEMU's {@code qcow2_write_snapshots} writes it: each entry 8-byte aligned, at least the 24 bytes of
   * extra data QEMU 7.2 knows (an older entry gains them: disk size and icount as read), unknown extra data kept, the
   * 32-bit VM state size 0 where the size does not fit. No padding after the last entry.
   */
  static ByteBuffer encode(List<Entry> entries) {
    int total = 0;
    for (Entry e : entries) {
      total = align8(total) + entryBytes(e);
    }
    if (total > MAX_TABLE_BYTES) {
      throw new IllegalArgumentException("snapshot table: " + total + " bytes (expected: at most " + MAX_TABLE_BYTES
          + ", QEMU's limit)");
    }
    ByteBuffer b = ByteBuffer.allocate(total);
    int pos = 0;
    for (Entry e : entries) {
      pos = align8(pos);
      Snapshot s = e.snapshot();
      byte[] id = s.id().getBytes(StandardCharsets.UTF_8);
      byte[] name = s.name().getBytes(StandardCharsets.UTF_8);
      b.putLong(pos, e.l1TableOffset()).putInt(pos + 8, (int) e.l1Size()).putShort(pos + 12, (short) id.length)
          .putShort(pos + 14, (short) name.length).putInt(pos + 16, (int) s.dateSeconds())
          .putInt(pos + 20, (int) s.dateNanos()).putLong(pos + 24, s.vmClockNanos())
          .putInt(pos + 32, s.vmStateSize() <= 0xffffffffL ? (int) s.vmStateSize() : 0)
          .putInt(pos + 36, KNOWN_EXTRA + e.unknownExtra().length);
      b.putLong(pos + FIXED, s.vmStateSize()).putLong(pos + FIXED + 8, s.virtualSize())
          .putLong(pos + FIXED + 16, s.icount());
      b.put(pos + FIXED + KNOWN_EXTRA, e.unknownExtra());
      int at = pos + FIXED + KNOWN_EXTRA + e.unknownExtra().length;
      b.put(at, id).put(at + id.length, name);
      pos += entryBytes(e);
    }
    return b;
  }

  private static int entryBytes(Entry e) {
    return FIXED + KNOWN_EXTRA + e.unknownExtra().length + e.snapshot().id().getBytes(StandardCharsets.UTF_8).length
        + e.snapshot().name().getBytes(StandardCharsets.UTF_8).length;
  }

  private static int align8(int n) {
    return (n + 7) & ~7;
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

  /** The ID or name at {@code at}: up to its first NUL byte, as QEMU holds it (a C string). */
  private static String string(ByteBuffer b, int at, int length) {
    byte[] raw = new byte[length];
    b.get(at, raw);
    int end = 0;
    while (end < length && raw[end] != 0) {
      end++;
    }
    return new String(raw, 0, end, StandardCharsets.UTF_8);
  }
}
