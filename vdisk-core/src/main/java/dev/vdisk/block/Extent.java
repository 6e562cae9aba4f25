package dev.vdisk.block;

/**
 * One piece of a device's allocation map, with QEMU's three bits (as {@code qemu-img map} prints them).
 *
 * <ul>
 *   <li><b>data</b>: {@link #data(long, long, long) DATA}: this layer stores the bytes, at {@code hostOffset}
 *       when known;
 *   <li><b>zero</b>: {@link #zero(long, long, long) ZERO}: this layer defines the range as zeroes (a hole in
 *       a raw file, a zero cluster); storage may or may not be allocated;
 *   <li><b>hole</b>: {@link #hole(long, long) HOLE}: this layer does not define the range; reads fall
 *       through to a backing image, or read as zeroes when there is none.
 * </ul>
 *
 * @param offset guest offset of the first byte
 * @param length bytes, positive
 * @param present the range's contents are defined by this layer (QEMU's "present"/allocated)
 * @param zero the range reads as zeroes
 * @param data storage holds the bytes (QEMU's BDRV_BLOCK_DATA)
 * @param hostOffset where the range lives in the layer below, or {@link #NO_OFFSET}
 */
public record Extent(long offset, long length, boolean present, boolean zero, boolean data, long hostOffset) {

  /** {@link #hostOffset} when the range has no place in the layer below. */
  public static final long NO_OFFSET = -1;

  /** Checks the range: offset at least 0, length positive. */
  public Extent {
    if (offset < 0 || length <= 0) {
      throw new IllegalArgumentException("extent: offset " + offset + " length " + length + " (expected: offset >= 0, length > 0)");
    }
  }

  /** A range this layer stores, at {@code hostOffset} in the layer below (or {@link #NO_OFFSET}). */
  public static Extent data(long offset, long length, long hostOffset) {
    return new Extent(offset, length, true, false, true, hostOffset);
  }

  /** A range this layer defines as zeroes, with storage at {@code hostOffset} (or {@link #NO_OFFSET}). */
  public static Extent zero(long offset, long length, long hostOffset) {
    return new Extent(offset, length, true, true, false, hostOffset);
  }

  /** A range this layer does not define. */
  public static Extent hole(long offset, long length) {
    return new Extent(offset, length, false, true, false, NO_OFFSET);
  }

  /** The offset just past the range. */
  public long end() {
    return offset + length;
  }

  /** The same kind of extent over another range; the host offset moves with the start. */
  public Extent slice(long newOffset, long newLength) {
    long host = hostOffset == NO_OFFSET ? NO_OFFSET : hostOffset + (newOffset - offset);
    return new Extent(newOffset, newLength, present, zero, data, host);
  }

  /** True if {@code next} starts where this ends, has the same bits, and continues the host mapping. */
  public boolean mergeableWith(Extent next) {
    if (next.offset != end() || next.present != present || next.zero != zero || next.data != data) {
      return false;
    }
    if (hostOffset == NO_OFFSET || next.hostOffset == NO_OFFSET) {
      return hostOffset == next.hostOffset;
    }
    return next.hostOffset == hostOffset + length;
  }

  /** This extent grown by {@code next}; see {@link #mergeableWith}. */
  public Extent merge(Extent next) {
    return new Extent(offset, length + next.length, present, zero, data, hostOffset);
  }
}
