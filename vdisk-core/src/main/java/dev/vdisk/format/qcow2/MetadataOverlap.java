package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The metadata of an open writable image beyond the refcount structures that QEMU's default metadata overlap check
 * ("cached") guards: the active L1 table and the L2 tables it names (as they are now: the table moves on a growth and
 * gains tables as data is written), the snapshot table, the snapshots' L1 tables and the bitmap directory (as found at
 * open: vdisk changes none of them while an image is open, and replaces the bitmap directory only at close, after
 * allocating its successor). {@link RefcountAllocator} asks it before handing out a cluster that the refcounts call
 * free: if such a cluster holds metadata the refcounts are damaged, and data written there would destroy it.
 */
final class MetadataOverlap {
  private record Region(String holds, long firstCluster, long endCluster) {}

  private final L1Table l1;
  private final int clusterBits;
  private final List<Region> fixed;

  private MetadataOverlap(L1Table l1, int clusterBits, List<Region> fixed) {
    this.l1 = l1;
    this.clusterBits = clusterBits;
    this.fixed = fixed;
  }

  /** The guard for an image whose active L1 table is {@code l1}; reads the snapshot table's entries again. */
  static MetadataOverlap of(HostReader image, Qcow2Header header, L1Table l1, Optional<BitmapTables> bitmaps)
      throws IOException {
    int bits = header.clusterBits();
    List<Region> fixed = new ArrayList<>();
    if (header.nbSnapshots() > 0) {
      SnapshotTable.Parsed snapshots = SnapshotTable.parse(image, header, false);
      fixed.add(region("the snapshot table", header.snapshotsOffset(), snapshots.tableBytes(), bits));
      for (SnapshotTable.Entry e : snapshots.entries()) {
        fixed.add(region("an inactive L1 table", e.l1TableOffset(), e.l1Size() * 8, bits));
      }
    }
    bitmaps.ifPresent(b -> fixed.add(region("the bitmap directory", b.directoryOffset(), b.directorySize(), bits)));
    return new MetadataOverlap(l1, bits, List.copyOf(fixed));
  }

  private static Region region(String holds, long offset, long bytes, int bits) {
    return new Region(holds, offset >>> bits, bytes <= 0 ? offset >>> bits : ((offset + bytes - 1) >>> bits) + 1);
  }

  /** What host cluster {@code cluster} holds among the guarded metadata, or null if none of it. */
  String holds(long cluster) {
    long l1First = l1.offset() >>> clusterBits;
    if (cluster >= l1First && cluster <= (l1.offset() + l1.size() * 8L - 1) >>> clusterBits) {
      return "the active L1 table";
    }
    for (int i = 0; i < l1.size(); i++) {
      long l2 = l1.l2Offset(i);
      if (l2 != 0 && l2 >>> clusterBits == cluster) {
        return "an active L2 table (L1 entry " + i + ")";
      }
    }
    for (Region r : fixed) {
      if (cluster >= r.firstCluster && cluster < r.endCluster) {
        return r.holds;
      }
    }
    return null;
  }
}
