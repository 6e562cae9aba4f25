package dev.vdisk.ops;

/**
 * The status of a run of bytes as seen through an image's whole backing chain: QEMU's
 * {@code bdrv_block_status_above(bs, NULL, ...)}, which {@code qemu-img convert} and {@code qemu-img compare}
 * are built on. {@link dev.vdisk.block.BlockDevice#extents} describes one layer; where a layer leaves a range
 * undefined (a hole), the backing image is asked, down the chain: {@link StatusWalker} does the walking.
 *
 * @param offset first byte of the run
 * @param length bytes in the run, positive
 * @param allocated some layer of the chain defines the bytes (QEMU's BDRV_BLOCK_ALLOCATED); false where
 *     no layer does and they read as zeroes
 * @param zero the bytes read as zeroes (BDRV_BLOCK_ZERO)
 * @param data storage holds the bytes (BDRV_BLOCK_DATA)
 * @param offsetValid the defining layer knows where the bytes live below it (BDRV_BLOCK_OFFSET_VALID; false
 *     for compressed clusters)
 * @param eof the run ends at the end of the (top) image (BDRV_BLOCK_EOF)
 */
record BlockStatus(long offset, long length, boolean allocated, boolean zero, boolean data, boolean offsetValid,
    boolean eof) {

  public long end() {
    return offset + length;
  }

  /** True if the two runs have the same status bits (QEMU's status word without the offset and length). */
  public boolean sameBits(BlockStatus other) {
    return allocated == other.allocated && zero == other.zero && data == other.data
        && offsetValid == other.offsetValid && eof == other.eof;
  }

  /** This run over {@code [from, end())}, {@code from} inside it. */
  BlockStatus from(long from) {
    return new BlockStatus(from, end() - from, allocated, zero, data, offsetValid, eof);
  }
}
