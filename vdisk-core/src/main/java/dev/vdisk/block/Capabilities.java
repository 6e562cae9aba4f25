package dev.vdisk.block;

/**
 * What a layer can do. Computed at open and fixed for the layer's life.
 *
 * @param readOnly writes, zeroes, discards and resizes are refused
 * @param flush whether {@link BlockDevice#flush()} reaches stable storage
 * @param fua per-write durability
 * @param discard giving storage back
 * @param writeZeroes zeroing without a data transfer
 * @param fastZero zeroing that is known to be cheap (a metadata update, not a data write)
 * @param extents allocation information beyond "all data"
 * @param compressedWrites {@link WriteFlag#COMPRESSED} writes, in units of {@link BlockLimits#compressionUnit()}:
 *     {@link Support#NATIVE} or {@link Support#NONE}, never emulated (storing data compressed is the point)
 */
public record Capabilities(
    boolean readOnly,
    Support flush,
    Support fua,
    Support discard,
    Support writeZeroes,
    Support fastZero,
    Support extents,
    Support compressedWrites) {

  /** Everything native and writable: a layer that implements every verb itself (compressed writes are no verb). */
  public static final Capabilities ALL_NATIVE =
      new Capabilities(false, Support.NATIVE, Support.NATIVE, Support.NATIVE, Support.NATIVE, Support.NATIVE, Support.NATIVE);

  /** Without compressed writes, which only a few formats have. */
  public Capabilities(boolean readOnly, Support flush, Support fua, Support discard, Support writeZeroes,
      Support fastZero, Support extents) {
    this(readOnly, flush, fua, discard, writeZeroes, fastZero, extents, Support.NONE);
  }

  /** These capabilities, read-only or not. */
  public Capabilities withReadOnly(boolean ro) {
    return new Capabilities(ro, flush, fua, discard, writeZeroes, fastZero, extents, compressedWrites);
  }

  /** These capabilities with flush support {@code s}. */
  public Capabilities withFlush(Support s) {
    return new Capabilities(readOnly, s, fua, discard, writeZeroes, fastZero, extents, compressedWrites);
  }

  /** These capabilities with FUA support {@code s}. */
  public Capabilities withFua(Support s) {
    return new Capabilities(readOnly, flush, s, discard, writeZeroes, fastZero, extents, compressedWrites);
  }

  /** These capabilities with discard support {@code s}. */
  public Capabilities withDiscard(Support s) {
    return new Capabilities(readOnly, flush, fua, s, writeZeroes, fastZero, extents, compressedWrites);
  }

  /** These capabilities with write-zeroes support {@code s} and fast-zero support {@code fast}. */
  public Capabilities withWriteZeroes(Support s, Support fast) {
    return new Capabilities(readOnly, flush, fua, discard, s, fast, extents, compressedWrites);
  }

  /** These capabilities with extents support {@code s}. */
  public Capabilities withExtents(Support s) {
    return new Capabilities(readOnly, flush, fua, discard, writeZeroes, fastZero, s, compressedWrites);
  }

  /** These capabilities with compressed-write support {@code s}. */
  public Capabilities withCompressedWrites(Support s) {
    return new Capabilities(readOnly, flush, fua, discard, writeZeroes, fastZero, extents, s);
  }
}
