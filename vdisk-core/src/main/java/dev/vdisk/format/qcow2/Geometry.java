package dev.vdisk.format.qcow2;

/**
 * The arithmetic of an image's cluster mapping, fixed by cluster_bits and the extended L2 bit.
 *
 * @param clusterBits log2 of the cluster size, 9 to 21
 * @param extendedL2 L2 entries are 128 bits with 32 subclusters per cluster
 */
record Geometry(int clusterBits, boolean extendedL2) {
  /** Subclusters per cluster with extended L2 entries. */
  static final int SUBCLUSTERS = 32;

  /** Bits 9-55 of L1 entries and of standard L2 descriptors: a cluster-aligned host offset. */
  static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** L2 entry bit 62. */
  static final long COMPRESSED = 1L << 62;
  /** L1/L2 entry bit 63: refcount is exactly one (with a data file: the cluster is allocated, even at 0). */
  static final long COPIED = 1L << 63;
  /** Standard descriptor bit 0 (without extended L2): reads as zeroes. */
  static final long ZERO = 1L;
  /** Extended L2 bitmap: every subcluster allocated. */
  static final long SUBCLUSTERS_ALLOCATED = 0xffff_ffffL;
  /** Extended L2 bitmap: every subcluster reads as zeroes. */
  static final long SUBCLUSTERS_ZERO = 0xffff_ffffL << 32;

  int clusterSize() {
    return 1 << clusterBits;
  }

  long clusterMask() {
    return clusterSize() - 1L;
  }

  /** 64-bit words per L2 entry: 1, or 2 with extended L2. */
  int wordsPerEntry() {
    return extendedL2 ? 2 : 1;
  }

  /** log2 of the entries in one L2 table. */
  int l2Bits() {
    return clusterBits - 3 - (extendedL2 ? 1 : 0);
  }

  /** Guest bytes one L2 table maps. */
  long bytesPerL2() {
    return 1L << (clusterBits + l2Bits());
  }

  /** log2 of the unit in which allocation is tracked: the subcluster, or the whole cluster. */
  int subclusterBits() {
    return extendedL2 ? clusterBits - 5 : clusterBits;
  }

  int subclusterSize() {
    return 1 << subclusterBits();
  }

  /** L1 entries needed to map a disk of {@code size} bytes. */
  long l1EntriesFor(long size) {
    return Math.ceilDiv(size, bytesPerL2());
  }

  /** Bit where the sector count starts in a compressed descriptor: {@code 62 - (cluster_bits - 8)}. */
  int compressedSizeShift() {
    return 62 - (clusterBits - 8);
  }

  /** The L1 index of the L2 table that maps guest offset {@code guest}. */
  long l1Index(long guest) {
    return guest >>> (clusterBits + l2Bits());
  }

  /** The index of the first word of {@code guest}'s entry in its L2 table. */
  int entryIndex(long guest) {
    return (int) ((guest >>> clusterBits) & ((1L << l2Bits()) - 1)) * wordsPerEntry();
  }

  /** The subcluster of its cluster that {@code guest} lies in (0 without extended L2). */
  int subcluster(long guest) {
    return (int) ((guest & clusterMask()) >>> subclusterBits());
  }

  /** The end of the cluster that {@code pos} lies in. */
  long clusterEnd(long pos) {
    return (pos | clusterMask()) + 1;
  }

  /** Bits {@code [from, to)} of a 32-bit subcluster bitmap. */
  static long allocRange(int from, int to) {
    return ((1L << to) - 1) & -(1L << from);
  }

  /** {@code pos} rounded up to a multiple of {@code unit}, a power of two. */
  static long roundUp(long pos, long unit) {
    return (pos + unit - 1) & -unit;
  }
}
