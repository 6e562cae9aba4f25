package dev.vdisk.format;

import dev.vdisk.block.Extent;

/**
 * One range of an image's allocation map as {@code qemu-img map} reports it (its {@code MapEntry}): adjacent
 * ranges of the chain's status merged where qemu-img merges them.
 *
 * @param start guest offset of the first byte
 * @param length bytes
 * @param depth the layer of the backing chain that defines the range (0 is the image itself)
 * @param present some layer defines the range
 * @param zero the range reads as zeroes
 * @param data storage holds the bytes
 * @param offset where the range lives in the layer's data file, or {@link Extent#NO_OFFSET}
 */
public record MapEntry(long start, long length, int depth, boolean present, boolean zero, boolean data, long offset) {

  /** The entry of one status range of a chain. */
  public static MapEntry of(ImageChain.Status s) {
    Extent e = s.extent();
    return new MapEntry(e.offset(), e.length(), s.depth(), e.present(), e.zero(), e.data(), e.hostOffset());
  }

  /** True if the range has a place in the layer's data file. */
  public boolean hasOffset() {
    return offset != Extent.NO_OFFSET;
  }

  /** Where the range ends. */
  public long end() {
    return start + length;
  }

  /** qemu-img's {@code entry_mergeable}: same bits and depth, and host offsets (if any) continuing. */
  boolean mergeableWith(MapEntry next) {
    if (length == 0 || zero != next.zero || data != next.data || depth != next.depth || present != next.present) {
      return false;
    }
    if (hasOffset() != next.hasOffset()) {
      return false;
    }
    return !hasOffset() || offset + length == next.offset;
  }

  MapEntry grow(long bytes) {
    return new MapEntry(start, length + bytes, depth, present, zero, data, offset);
  }
}
