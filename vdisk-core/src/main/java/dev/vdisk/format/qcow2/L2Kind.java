package dev.vdisk.format.qcow2;

/**
 * QEMU's cluster types ({@code qcow2_get_cluster_type}), as the check classifies raw L2 words: unlike
 * {@link L2Entry.Decoder} it never refuses an entry, because the check must count whatever the image says.
 */
enum L2Kind {
  UNALLOCATED, ZERO_PLAIN, ZERO_ALLOC, NORMAL, COMPRESSED;

  /** Bits 9-55 of a standard descriptor: the host cluster offset. */
  static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** Bits 1-8 and 56-61 of a standard descriptor: reserved. */
  static final long RESERVED_MASK = 0x3f00_0000_0000_01feL;

  /**
   * The kind of {@code word}.
   *
   * @param extendedL2 subclusters: the zero flag is not bit 0 but the bitmap's business
   * @param dataFile with an external data file, offset 0 with the COPIED bit is a real cluster
   */
  static L2Kind of(long word, boolean extendedL2, boolean dataFile) {
    if ((word & Geometry.COMPRESSED) != 0) {
      return COMPRESSED;
    }
    if ((word & Geometry.ZERO) != 0 && !extendedL2) {
      return (word & OFFSET_MASK) != 0 ? ZERO_ALLOC : ZERO_PLAIN;
    }
    if ((word & OFFSET_MASK) == 0) {
      return dataFile && (word & Geometry.COPIED) != 0 ? NORMAL : UNALLOCATED;
    }
    return NORMAL;
  }

  /** True for the kinds that own a host cluster (whose COPIED bit must match refcount 1). */
  boolean ownsCluster() {
    return this == NORMAL || this == ZERO_ALLOC;
  }
}
