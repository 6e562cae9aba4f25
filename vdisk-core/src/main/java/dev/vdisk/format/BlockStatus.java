package dev.vdisk.format;

import dev.vdisk.block.Extent;

/**
 * The status of a run of guest bytes as seen through an image's backing chain: QEMU's block status word with its
 * run, which {@code qemu-img map}, {@code convert}, {@code compare}, {@code commit}, {@code rebase} and the NBD
 * server's {@code base:allocation} and {@code qemu:allocation-depth} are all built on. {@link
 * dev.vdisk.block.BlockDevice#extents} describes one layer; {@link ChainWalker} walks the chain and produces these.
 *
 * @param offset guest offset of the first byte
 * @param length bytes in the run (positive, except for the empty range qemu-img map prints at or past the end)
 * @param depth the layer that defines the run (0 is the top image); for a run no layer defines, the deepest layer
 *     the run reaches (see {@link ChainWalker.Mode} for ranges past the end of a shorter backing image)
 * @param allocated some layer defines the bytes (QEMU's BDRV_BLOCK_ALLOCATED, qemu-img map's {@code present})
 * @param zero the bytes read as zeroes (BDRV_BLOCK_ZERO)
 * @param data storage holds the bytes (BDRV_BLOCK_DATA)
 * @param hostOffset where the run lives in the defining layer's data file, or {@link Extent#NO_OFFSET} (no
 *     BDRV_BLOCK_OFFSET_VALID: compressed clusters, encrypted data, undefined ranges)
 * @param eof the run ends at the end of the top image (BDRV_BLOCK_EOF)
 */
public record BlockStatus(long offset, long length, int depth, boolean allocated, boolean zero, boolean data,
    long hostOffset, boolean eof) {

  /** The run of one layer's extent {@code e} at {@code depth}, as the layer reports it. */
  static BlockStatus of(Extent e, int depth) {
    return new BlockStatus(e.offset(), e.length(), depth, e.present(), e.zero(), e.data(), e.hostOffset(), false);
  }

  /** Where the run ends. */
  public long end() {
    return offset + length;
  }

  /** True if the run has a place in the defining layer's data file (BDRV_BLOCK_OFFSET_VALID). */
  public boolean hasOffset() {
    return hostOffset != Extent.NO_OFFSET;
  }

  /** True if the two runs have the same status bits (QEMU's status word without the offset and length). */
  public boolean sameBits(BlockStatus other) {
    return allocated == other.allocated && zero == other.zero && data == other.data
        && hasOffset() == other.hasOffset() && eof == other.eof;
  }

  /** This run over {@code [from, end())}, {@code from} inside it; the host offset moves with the start. */
  public BlockStatus from(long from) {
    return new BlockStatus(from, end() - from, depth, allocated, zero, data,
        hasOffset() ? hostOffset + (from - offset) : Extent.NO_OFFSET, eof);
  }

  /** This run {@code bytes} longer, with {@code eof} of the part it grows by. */
  public BlockStatus grow(long bytes, boolean eofAfter) {
    return new BlockStatus(offset, length + bytes, depth, allocated, zero, data, hostOffset, eofAfter);
  }

  /** This run with the EOF bit set. */
  BlockStatus atEof() {
    return new BlockStatus(offset, length, depth, allocated, zero, data, hostOffset, true);
  }
}
