package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What a check needs of the internal snapshot table: each snapshot's L1 table (offset and size, unchecked, so that
 * the check reports bad ones as QEMU does) with its ID and name for the messages, and the table's own extent.
 * Entries are laid out as {@link SnapshotTable} describes; bytes past the end of the file read as zeroes, as QEMU
 * reads them. Memory: one entry at a time while reading, the table bounded by QEMU's 64 MiB limit.
 *
 * @param snapshots the snapshots in table order
 * @param tableBytes the table's length from snapshots_offset to the end of the last entry (its padding excluded)
 */
record SnapshotL1Tables(List<Entry> snapshots, long tableBytes) {
  private static final int FIXED = 40;

  /** One snapshot's L1 table as the table records it. */
  record Entry(String id, String name, long l1TableOffset, long l1Size) {}

  /**
   * Reads the table of {@code header}.
   *
   * @throws IOException for an entry with more extra data than QEMU accepts or a table over QEMU's size limit,
   *     which stop QEMU's check too
   */
  static SnapshotL1Tables read(HostReader file, Qcow2Header header) throws IOException {
    long start = header.snapshotsOffset();
    long pos = start;
    List<Entry> out = new ArrayList<>();
    for (long i = 0; i < header.nbSnapshots(); i++) {
      pos = (pos + 7) & ~7L;
      ByteBuffer f = ByteBuffer.allocate(FIXED);
      file.readData(pos, f);
      long extra = f.getInt(36) & 0xffff_ffffL;
      if (extra > SnapshotTable.MAX_EXTRA_DATA) {
        throw invalid("snapshot table entry " + i + ": extra_data_size", extra,
            "at most " + SnapshotTable.MAX_EXTRA_DATA + " (Too much extra metadata in snapshot table entry " + i + ")");
      }
      int idSize = f.getShort(12) & 0xffff;
      int nameSize = f.getShort(14) & 0xffff;
      ByteBuffer v = ByteBuffer.allocate((int) extra + idSize + nameSize);
      file.readData(pos + FIXED, v);
      out.add(new Entry(string(v, (int) extra, idSize), string(v, (int) extra + idSize, nameSize), f.getLong(0),
          f.getInt(8) & 0xffff_ffffL));
      pos += FIXED + v.capacity();
      if (pos - start > SnapshotTable.MAX_TABLE_BYTES) {
        throw invalid("snapshot table size", (pos - start) + " bytes at entry " + i,
            "at most " + SnapshotTable.MAX_TABLE_BYTES + " (Snapshot table is too big)");
      }
    }
    return new SnapshotL1Tables(List.copyOf(out), pos - start);
  }

  private static String string(ByteBuffer b, int at, int length) {
    byte[] raw = new byte[length];
    b.get(at, raw);
    return new String(raw, StandardCharsets.UTF_8);
  }
}
