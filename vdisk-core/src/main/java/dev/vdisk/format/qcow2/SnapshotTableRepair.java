package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.CheckProblem.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * The snapshot-table part of {@code qemu-img check -r all} (QEMU 7.2's {@code qcow2_check_read_snapshot_table} and
 * {@code qcow2_check_fix_snapshot_table}): the table is read as the repair reads it (oversized extra data cut to
 * QEMU's limit, each cut a corruption), each entry of a version 3 image that lacks the 16 bytes of extra data every
 * entry must have is a corruption, and once the refcounts are repaired, a damaged table is written anew as QEMU
 * writes it and the old one freed. Entries past QEMU's limit of 65,536 are dropped by {@code -r all} before anything
 * else, as QEMU drops them: the header's count lowered in place, each dropped entry a corruption fixed (a check
 * without {@code -r all} fails on them, as QEMU's).
 *
 * <p>Crash safety: the new table goes to clusters allocated (refcount 1) and made durable before the one header write
 * (bytes 60-71, nb_snapshots and snapshots_offset, inside the first sector) that switches to it; the old table's
 * clusters are counted down only after that switch is durable. A power loss leaves the old table or the new one, and
 * at worst the other's clusters leaked.
 */
final class SnapshotTableRepair {
  /** Header bytes 60-71: nb_snapshots, snapshots_offset. */
  private static final int NB_SNAPSHOTS_FIELD = 60;

  private final SnapshotTable.Parsed table;
  private final long damage;

  private SnapshotTableRepair(SnapshotTable.Parsed table, long damage) {
    this.table = table;
    this.damage = damage;
  }

  /**
   * Reads the snapshot table of the image in {@code file} for a check ({@code repairAll}: for {@code check -r all}),
   * reporting its damage to {@code tally} (QEMU's lines, each counted by {@link #damage}, not by the tally: they are
   * corruptions or fixed corruptions once the check knows what became of them).
   */
  static SnapshotTableRepair read(HostReader file, Qcow2Header header, boolean repairAll, CheckTally tally)
      throws IOException {
    long[] damage = {0};
    long count = header.nbSnapshots();
    long overhanging = count - Qcow2Header.MAX_SNAPSHOTS;
    if (overhanging > 0) {
      // QEMU's qcow2_check_read_snapshot_table: -r all drops the entries past the limit at once, the table left in
      // place (the clusters only they used become leaks, which the refcount repair frees), each a corruption fixed;
      // any other check fails on the table.
      if (!repairAll) {
        throw Qcow2Errors.invalid("snapshot table", count + " entries", "at most " + Qcow2Header.MAX_SNAPSHOTS
            + ", QEMU's limit; check -r all discards the " + overhanging + " overhanging snapshots");
      }
      tally.note("Discarding " + overhanging + " overhanging snapshots");
      count = Qcow2Header.MAX_SNAPSHOTS;
      // One write inside the first sector: the old count or the new one, and leaks at worst.
      file.device().write(NB_SNAPSHOTS_FIELD, ByteBuffer.allocate(4).putInt(0, (int) count), Set.of());
      file.device().flush();
      tally.corruptionsFixed += overhanging;
    }
    SnapshotTable.Parsed table = SnapshotTable.parse(file, header, true, !repairAll ? null : line -> {
      tally.note(line);
      damage[0]++;
    }, count);
    if (header.version() >= 3) {
      for (int i = 0; i < table.entries().size(); i++) {
        if (table.entries().get(i).incomplete()) {
          tally.report(Kind.CORRUPTION,
              (repairAll ? "Repairing" : "ERROR") + " snapshot table entry " + i + " is incomplete");
          damage[0]++;
        }
      }
    }
    return new SnapshotTableRepair(table, damage[0]);
  }

  /** The table as read. */
  SnapshotTable.Parsed table() {
    return table;
  }

  /** The corruptions found in the table itself (not in what it references). */
  long damage() {
    return damage;
  }

  /**
   * Writes the table anew ({@link SnapshotTable#encode}) to clusters {@code refcounts} allocates, switches the header
   * to it and frees the old table, as QEMU's {@code qcow2_write_snapshots}; call after the refcounts are repaired
   * and written. Like QEMU's {@code qcow2_free_clusters}, the old table is not freed where one of its clusters has
   * no reference to drop (a table that lay past the end of the file), with QEMU's line for it.
   */
  void rewrite(BlockDevice file, RefcountStore refcounts, Qcow2Header header, CheckTally tally) throws IOException {
    int clusterBits = header.clusterBits();
    ByteBuffer bytes = SnapshotTable.encode(table.entries());
    long at = refcounts.allocate((int) Math.ceilDiv(bytes.remaining(), 1L << clusterBits));
    file.write(at, bytes, Set.of());
    if (!refcounts.writeBack()) {
      file.flush(); // the new table is durable before the header names it
    }
    ByteBuffer pointer = ByteBuffer.allocate(12).putInt(table.entries().size()).putLong(at).flip();
    file.write(NB_SNAPSHOTS_FIELD, pointer, Set.of());
    file.flush();
    long first = header.snapshotsOffset() >>> clusterBits;
    long last = (header.snapshotsOffset() + Math.max(table.tableBytes(), 1) - 1) >>> clusterBits;
    for (long c = first; c <= last; c++) {
      if (refcounts.get(c) == 0) {
        tally.note("qcow2_free_clusters failed: Invalid argument");
        return;
      }
    }
    refcounts.free(first << clusterBits, (int) (last - first + 1));
    refcounts.applyFrees();
    refcounts.writeBack();
  }
}
