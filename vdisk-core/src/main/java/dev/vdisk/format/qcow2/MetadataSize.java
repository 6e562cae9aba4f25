package dev.vdisk.format.qcow2;

/**
 * How much refcount and mapping metadata a qcow2 image needs: QEMU's {@code qcow2_refcount_metadata_size} and
 * {@code qcow2_calc_prealloc_size}, shared by image creation (where new refcount structures go) and
 * {@code measure}. Pure arithmetic, no I/O.
 */
final class MetadataSize {
  private MetadataSize() {}

  /**
   * Refcount blocks and refcount table clusters that count {@code clusters} clusters and themselves.
   *
   * @param blocks refcount block clusters
   * @param tableClusters refcount table clusters
   */
  record Refcounts(long blocks, long tableClusters) {
    long bytes(int clusterBits) {
      return (blocks + tableClusters) << clusterBits;
    }
  }

  /**
   * The fixed point where the refcount blocks and table count every cluster, themselves included
   * ({@code qcow2_refcount_metadata_size}).
   *
   * @param clusters clusters to count besides the refcount structures (data, L1/L2 tables, header)
   * @param generous give the table room to grow by half, as QEMU does when it grows a table while writing
   */
  static Refcounts refcounts(long clusters, int clusterBits, RefcountWidth width, boolean generous) {
    long perTableCluster = (1L << clusterBits) / 8;
    long perBlock = 1L << width.blockBits(clusterBits);
    long table = 0;
    long blocks = 0;
    long n = 0;
    long last;
    do {
      last = n;
      blocks = Math.ceilDiv(clusters + table + blocks, perBlock);
      table = Math.ceilDiv(blocks, perTableCluster);
      n = clusters + blocks + table;
      if (n == last && generous) {
        clusters += Math.ceilDiv(table, 2);
        n = 0;
        generous = false;
      }
    } while (n != last);
    return new Refcounts(blocks, table);
  }

  /**
   * Bytes of a fully allocated image of {@code size} virtual bytes: header, L2 and L1 tables (L1 rounded up to
   * whole clusters), refcount structures and the data itself ({@code qcow2_calc_prealloc_size}).
   */
  static long fullyAllocated(long size, Geometry g, RefcountWidth width) {
    int cs = g.clusterSize();
    long aligned = Math.ceilDiv(size, cs) * cs;
    long entryBytes = 8L * g.wordsPerEntry();
    long meta = cs;
    long l2Entries = roundUp(aligned / cs, cs / entryBytes);
    meta += l2Entries * entryBytes;
    long l1Entries = roundUp(l2Entries * entryBytes / cs, cs / 8);
    meta += l1Entries * 8;
    meta += refcounts((meta + aligned) / cs, g.clusterBits(), width, false).bytes(g.clusterBits());
    return meta + aligned;
  }

  private static long roundUp(long value, long unit) {
    return Math.ceilDiv(value, unit) * unit;
  }
}
