package dev.vdisk.block;

/**
 * Alignment and size limits of a layer.
 *
 * @param requestAlignment offsets and lengths of read/write/writeZeroes must be multiples of this (1 = any)
 * @param maxTransfer largest read or write payload in one call, in bytes
 * @param discardGranularity unit in which discard can release storage (1 = any); discards of smaller
 *     pieces may do nothing
 * @param optimalAlignment alignment at which requests avoid read-modify-write in a lower layer (1 = any)
 * @param compressionUnit where {@link Capabilities#compressedWrites()} is available, the unit (a power of two) of
 *     {@link WriteFlag#COMPRESSED} writes: each starts at a multiple of it and covers whole units, except that the
 *     last may end at the end of the device; 0 elsewhere
 */
public record BlockLimits(int requestAlignment, int maxTransfer, long discardGranularity, int optimalAlignment,
    int compressionUnit) {

  /** The largest payload any layer moves in one call unless it says otherwise: 32 MiB, NBD's usual cap. */
  public static final int DEFAULT_MAX_TRANSFER = 32 << 20;

  /** No alignment constraints, {@link #DEFAULT_MAX_TRANSFER}. */
  public static final BlockLimits UNALIGNED = new BlockLimits(1, DEFAULT_MAX_TRANSFER, 1, 1);

  /** Without compressed writes. */
  public BlockLimits(int requestAlignment, int maxTransfer, long discardGranularity, int optimalAlignment) {
    this(requestAlignment, maxTransfer, discardGranularity, optimalAlignment, 0);
  }

  /**
   * Checks the limits: a power-of-two request alignment, a transfer of at least one aligned unit, positive
   * granularities, and a compression unit of 0 or a power of two up to the transfer limit.
   */
  public BlockLimits {
    if (requestAlignment < 1 || Integer.bitCount(requestAlignment) != 1) {
      throw new IllegalArgumentException("requestAlignment: " + requestAlignment + " (expected: a power of two)");
    }
    if (maxTransfer < requestAlignment) {
      throw new IllegalArgumentException("maxTransfer: " + maxTransfer + " (expected: >= " + requestAlignment + ")");
    }
    if (discardGranularity < 1 || optimalAlignment < 1) {
      throw new IllegalArgumentException("discardGranularity/optimalAlignment: must be >= 1");
    }
    if (compressionUnit < 0 || compressionUnit > 0 && (Integer.bitCount(compressionUnit) != 1 || compressionUnit > maxTransfer)) {
      throw new IllegalArgumentException("compressionUnit: " + compressionUnit + " (expected: 0, or a power of two up to maxTransfer)");
    }
  }
}
