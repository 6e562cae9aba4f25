package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.DoubleConsumer;

/**
 * qemu-img amend's {@code compat=0.10} on a version 3 image (QEMU's {@code qcow2_downgrade}): what refuses it,
 * checked before anything is written, and the zero clusters a version 2 image cannot hold, turned into what reads the
 * same (QEMU's {@code qcow2_expand_zero_clusters}) in the active and every snapshot's L2 tables. The header is
 * written last, by the caller.
 *
 * <p>A zero cluster without storage becomes unallocated when nothing lies beneath the image, else a new cluster of
 * zeroes; one with storage gets zeroes written into it and loses its zero flag. One deliberate difference: QEMU
 * writes those zeroes even where the storage is shared with a snapshot that reads data there (refcount above 1),
 * destroying the snapshot's data; here such an entry is handled like one without storage, and the reference it
 * drops is a leak the caller's repair frees.
 *
 * <p><b>Crash safety</b>, per L2 table: new clusters' refcounts are written and flushed, then the zeroes, then the
 * table; a power loss leaves a table that still reads as zeroes, with at worst leaked clusters.
 */
final class CompatDowngrade {
  private static final long L1_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

  private final BlockDevice file;
  private final ImageHead head;
  private final HostReader reader;

  private CompatDowngrade(BlockDevice file, ImageHead head) {
    this.file = file;
    this.head = head;
    this.reader = new HostReader(file, "image file");
  }

  /**
   * Refuses, with QEMU's messages, a downgrade that {@code qcow2_downgrade} refuses.
   *
   * @param refcountOrder the refcount order the image will have when the downgrade runs
   */
  static void check(BlockDevice file, ImageHead head, int refcountOrder) throws IOException {
    Qcow2Header h = head.header();
    if (refcountOrder != 4) {
      throw refused("compat=0.10 requires refcount_bits=16");
    }
    if (head.hasDataFile()) {
      throw refused("Cannot downgrade an image with a data file");
    }
    HostReader reader = new HostReader(file, "image file");
    for (SnapshotTable.Entry e : SnapshotTable.parse(reader, h, false).entries()) {
      Snapshot s = e.snapshot();
      if (s.vmStateSize() > 0xffff_ffffL || s.virtualSize() != h.size()) {
        throw refused("Internal snapshots prevent downgrade of image");
      }
    }
    long blocking = h.incompatibleFeatures() & ~(Features.INCOMPAT_COMPRESSION | Features.INCOMPAT_DIRTY);
    if (blocking != 0) {
      throw refused("Cannot downgrade an image with incompatible features 0x" + Long.toHexString(blocking) + " set");
    }
    if ((h.incompatibleFeatures() & Features.INCOMPAT_COMPRESSION) != 0
        && new CompatDowngrade(file, head).activeHasCompressedClusters()) {
      throw refused("Cannot downgrade an image with zstd compression type and existing compressed clusters");
    }
  }

  /**
   * Expands the zero clusters of every L2 table the active and snapshot L1 tables name, as the class comment says.
   *
   * @param backed the image has a backing file, whose data a plain zero cluster hides
   */
  static void expandZeroClusters(BlockDevice file, ImageHead head, boolean backed, DoubleConsumer progress)
      throws IOException {
    new CompatDowngrade(file, head).expand(backed, progress);
  }

  private boolean activeHasCompressedClusters() throws IOException {
    Qcow2Header h = head.header();
    for (long l2 : l1(h.l1TableOffset(), h.l1Size())) {
      ByteBuffer table = readCluster(l2);
      for (int j = 0; j < table.capacity() / 8; j++) {
        if (L2Kind.of(table.getLong(j * 8), false, false) == L2Kind.COMPRESSED) {
          return true;
        }
      }
    }
    return false;
  }

  private void expand(boolean backed, DoubleConsumer progress) throws IOException {
    Qcow2Header h = head.header();
    List<long[]> tables = new ArrayList<>();
    tables.add(new long[] {h.l1TableOffset(), h.l1Size()});
    for (SnapshotTable.Entry e : SnapshotTable.parse(reader, h, false).entries()) {
      tables.add(new long[] {e.l1TableOffset(), e.l1Size()});
    }
    RefcountStore refcounts = new RefcountStore(file, h, RefcountTable.read(reader, h), 4);
    Set<Long> done = new HashSet<>();
    List<Long> l2s = new ArrayList<>();
    for (long[] t : tables) {
      for (long l2 : l1(t[0], t[1])) {
        if (done.add(l2)) {
          l2s.add(l2);
        }
      }
    }
    for (int i = 0; i < l2s.size(); i++) {
      expandTable(l2s.get(i), backed, refcounts);
      progress.accept((i + 1.0) / l2s.size());
    }
  }

  private void expandTable(long l2Offset, boolean backed, RefcountStore refcounts) throws IOException {
    int clusterBits = head.header().clusterBits();
    int clusterSize = 1 << clusterBits;
    ByteBuffer table = readCluster(l2Offset);
    long l2Refcount = refcounts.get(l2Offset >>> clusterBits);
    boolean changed = false;
    List<Long> zeroes = new ArrayList<>();
    for (int j = 0; j < clusterSize / 8; j++) {
      long word = table.getLong(j * 8);
      L2Kind kind = L2Kind.of(word, false, false);
      if (kind != L2Kind.ZERO_PLAIN && kind != L2Kind.ZERO_ALLOC) {
        continue;
      }
      long host = word & L2Kind.OFFSET_MASK;
      if (kind == L2Kind.ZERO_ALLOC && refcounts.get(host >>> clusterBits) > 1) {
        host = 0;
      }
      changed = true;
      if (host == 0 && !backed) {
        table.putLong(j * 8, 0);
        continue;
      }
      if (host == 0) {
        host = refcounts.allocate(1);
        for (long r = 1; r < l2Refcount; r++) {
          refcounts.adjust(host, 1);
        }
      }
      zeroes.add(host);
      table.putLong(j * 8, host | (l2Refcount == 1 ? Geometry.COPIED : 0));
    }
    if (!changed) {
      return;
    }
    refcounts.writeBack();
    // Written, not writeZeroes: a new cluster may lie past the end of the file, which the write must extend.
    ByteBuffer zero = ByteBuffer.allocate(clusterSize);
    for (long host : zeroes) {
      file.write(host, zero.clear(), Set.of());
    }
    if (!zeroes.isEmpty()) {
      file.flush();
    }
    file.write(l2Offset, table.clear(), Set.of());
    file.flush();
  }

  /** The L2 table offsets an L1 table names, in order, without the unallocated entries. */
  private List<Long> l1(long offset, long entries) throws IOException {
    List<Long> out = new ArrayList<>();
    if (entries == 0) {
      return out;
    }
    ByteBuffer l1 = reader.readMetadata("L1 table", offset, Math.toIntExact(entries * 8));
    for (int i = 0; i < entries; i++) {
      long l2 = l1.getLong(i * 8) & L1_OFFSET_MASK;
      if (l2 != 0) {
        out.add(l2);
      }
    }
    return out;
  }

  private ByteBuffer readCluster(long offset) throws IOException {
    return reader.readMetadata("L2 table", offset, head.header().clusterSize());
  }

  private static BlockDeviceException refused(String message) {
    return new BlockDeviceException(BlockError.ENOTSUP, message);
  }
}
