package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * One change of an image's snapshot metadata (create, apply, delete) made by shadow paging, so that a power loss at
 * any point leaves the old image or the new one, never a mix: every table that changes is written to clusters nothing
 * on disk references (a new active L1 table, copies of the active L2 tables whose COPIED flags change, a new snapshot
 * table, copies of the changed refcount blocks and a new refcount table, {@link ShadowRefcounts}); the file is
 * flushed; then one write of header bytes 24-71 (inside the first 512-byte sector, which a disk writes atomically)
 * switches size, active L1 table, refcount table and snapshot table at once; the file is flushed again; only then are
 * the clusters the new metadata no longer uses discarded.
 *
 * <p>Why not QEMU's in-place order: raising a data cluster's refcount to 2 and clearing the COPIED flag of the active
 * L2 entry that names it are writes to two clusters, and {@code qemu-img check} calls either one without the other a
 * corruption (OFLAG_COPIED). Only an atomic switch keeps the image clean at every instant. A crash before the switch
 * leaves unreferenced clusters with refcount 0 (not even leaks); after it, nothing.
 *
 * <p>Refcounts follow QEMU's {@code qcow2_update_snapshot_refcount}: every L1 table's reference to an L2 table
 * counts once for the table and once for each cluster it maps (compressed clusters: each host cluster their bytes
 * touch), so a data cluster's refcount is the number of L1 tables (active and snapshots) that reach it.
 */
final class SnapshotTransaction {
  /** The header fields the switch writes: bytes 24-71. */
  record Switch(long size, long l1Size, long l1TableOffset, long nbSnapshots, long snapshotsOffset) {}

  private final BlockDevice file;
  private final HostReader reader;
  private final Qcow2Header header;
  private final Geometry geometry;
  private final ShadowRefcounts refcounts;
  private final long compressedOffsetMask;
  private final long compressedSectorMask;

  SnapshotTransaction(BlockDevice file, Qcow2Header header, Geometry geometry) throws IOException {
    this.file = file;
    this.reader = new HostReader(file, "image file");
    this.header = header;
    this.geometry = geometry;
    this.refcounts = new ShadowRefcounts(reader, header);
    this.compressedOffsetMask = (1L << geometry.compressedSizeShift()) - 1;
    this.compressedSectorMask = (1L << (geometry.clusterBits() - 8)) - 1;
  }

  /** The L1 table of {@code entries} entries at {@code offset}, which must lie inside the file. */
  long[] readL1(String what, long offset, long entries) throws IOException {
    if (entries > Qcow2Header.MAX_L1_BYTES / 8) {
      throw Qcow2Errors.invalid(what + ": l1_size", entries, "at most " + Qcow2Header.MAX_L1_BYTES / 8 + " entries");
    }
    if (entries > 0 && (offset & geometry.clusterMask()) != 0) {
      throw Qcow2Errors.invalid(what + ": l1_table_offset", offset, "a multiple of the cluster size");
    }
    long[] l1 = new long[(int) entries];
    reader.readMetadata(what, offset, (int) entries * 8).asLongBuffer().get(l1);
    return l1;
  }

  /**
   * Adds {@code delta} (+1 or -1) to the refcount of each L2 table {@code l1} names and of every cluster those tables
   * map: the L1 table gains (+1) or loses (-1) its references.
   */
  void count(long[] l1, int delta) throws IOException {
    for (long e : l1) {
      long t = e & TableWalker.L1_OFFSET_MASK;
      if (t == 0) {
        continue;
      }
      refcounts.add(t >>> geometry.clusterBits(), delta);
      ByteBuffer table = readL2(t);
      for (int i = 0; i < entries(); i++) {
        long word = table.getLong(i * geometry.wordsPerEntry() * 8);
        switch (L2Kind.of(word, geometry.extendedL2(), false)) {
          case NORMAL, ZERO_ALLOC -> refcounts.add((word & L2Kind.OFFSET_MASK) >>> geometry.clusterBits(), delta);
          case COMPRESSED -> {
            long host = word & compressedOffsetMask;
            long sectors = ((word >>> geometry.compressedSizeShift()) & compressedSectorMask) + 1;
            refcounts.addRange(host, sectors * 512 - (host & 511), delta);
          }
          case ZERO_PLAIN, UNALLOCATED -> {}
        }
      }
    }
  }

  /** Counts down the {@code clusters}-worth of bytes at {@code offset} (a table the new metadata drops). */
  void drop(long offset, long bytes) throws IOException {
    refcounts.addRange(offset, bytes, -1);
  }

  /**
   * The entries of a new active L1 table that names the L2 tables of {@code l1} (whose references are already
   * counted), with the COPIED flags the final refcounts call for: an L2 table whose entries' flags change is
   * replaced by a copy with the right flags, written now to a new cluster (nothing on disk references it yet). Call
   * after every change to data refcounts.
   */
  long[] activeTables(long[] l1) throws IOException {
    long[] out = new long[l1.length];
    for (int i = 0; i < l1.length; i++) {
      long t = l1[i] & TableWalker.L1_OFFSET_MASK;
      if (t == 0) {
        continue;
      }
      ByteBuffer table = readL2(t);
      if (fixFlags(table)) {
        long copy = refcounts.allocate(1);
        refcounts.add(t >>> geometry.clusterBits(), -1);
        file.write(copy, table.clear(), Set.<WriteFlag>of());
        t = copy;
      }
      out[i] = t;
    }
    for (int i = 0; i < out.length; i++) {
      if (out[i] != 0 && refcounts.get(out[i] >>> geometry.clusterBits()) == 1) {
        out[i] |= Geometry.COPIED;
      }
    }
    return out;
  }

  /** Writes {@code bytes} (whole clusters, zero-padded) to new clusters; returns where. */
  long place(ByteBuffer bytes) throws IOException {
    int clusters = (int) Math.max(1, Math.ceilDiv(bytes.remaining(), geometry.clusterSize()));
    long at = refcounts.allocate(clusters);
    ByteBuffer padded = ByteBuffer.allocate(clusters << geometry.clusterBits());
    padded.put(bytes.duplicate()).clear();
    file.write(at, padded, Set.of());
    return at;
  }

  /** {@link #place} for an L1 table. */
  long placeL1(long[] l1) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(l1.length * 8);
    b.asLongBuffer().put(l1);
    return place(b);
  }

  /**
   * Writes the new refcount structures, flushes, switches the header to {@code to}, flushes, and discards the
   * clusters nothing uses any more. Nothing is changed on disk that the old header reaches before the switch.
   */
  void commit(Switch to) throws IOException {
    refcounts.seal();
    for (var e : refcounts.blocks().entrySet()) {
      file.write(e.getKey(), e.getValue(), Set.of());
    }
    file.write(refcounts.tableOffset(), refcounts.tableBytes(), Set.of());
    file.flush();
    ByteBuffer h = ByteBuffer.allocate(48).putLong(to.size()).putInt((int) header.cryptMethod())
        .putInt((int) to.l1Size()).putLong(to.l1TableOffset()).putLong(refcounts.tableOffset())
        .putInt(refcounts.tableClusters()).putInt((int) to.nbSnapshots()).putLong(to.snapshotsOffset()).flip();
    file.write(Qcow2Header.SIZE_FIELD, h, Set.of());
    file.flush();
    discardFreed();
  }

  /**
   * Gives the space of the clusters the new metadata no longer uses back to the host, one discard per run, as
   * QEMU discards what a snapshot operation frees.
   */
  private void discardFreed() throws IOException {
    if (file.capabilities().discard() == Support.NONE) {
      return;
    }
    long size = file.size();
    int bits = geometry.clusterBits();
    long[] run = {-1, -1}; // first and last cluster of the run being gathered
    refcounts.forEachFreed(cluster -> {
      if (run[0] >= 0 && cluster == run[1] + 1) {
        run[1] = cluster;
        return;
      }
      discardRun(run[0], run[1], size, bits);
      run[0] = cluster;
      run[1] = cluster;
    });
    discardRun(run[0], run[1], size, bits);
  }

  private void discardRun(long first, long last, long size, int bits) throws IOException {
    if (first < 0) {
      return;
    }
    long at = first << bits;
    long end = Math.min((last + 1) << bits, size);
    if (at < end) {
      file.discard(at, end - at);
    }
  }

  /**
   * Sets each entry's COPIED flag as QEMU's {@code qcow2_update_snapshot_refcount} leaves it: on a standard
   * cluster with refcount 1, off everywhere else (compressed clusters are never written in place). Returns whether
   * any entry changed.
   */
  private boolean fixFlags(ByteBuffer table) throws IOException {
    boolean changed = false;
    for (int i = 0; i < entries(); i++) {
      int at = i * geometry.wordsPerEntry() * 8;
      long word = table.getLong(at);
      boolean owner = switch (L2Kind.of(word, geometry.extendedL2(), false)) {
        case NORMAL, ZERO_ALLOC -> refcounts.get((word & L2Kind.OFFSET_MASK) >>> geometry.clusterBits()) == 1;
        case COMPRESSED, ZERO_PLAIN, UNALLOCATED -> false;
      };
      long fixed = owner ? word | Geometry.COPIED : word & ~Geometry.COPIED;
      if (fixed != word) {
        table.putLong(at, fixed);
        changed = true;
      }
    }
    return changed;
  }

  private ByteBuffer readL2(long offset) throws IOException {
    return reader.readMetadata("L2 table", offset, geometry.clusterSize());
  }

  private int entries() {
    return 1 << geometry.l2Bits();
  }
}
