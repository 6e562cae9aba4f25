package dev.vdisk.ops;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.format.qcow2.Qcow2Format;
import java.io.IOException;
import java.util.Optional;

/**
 * The status of a run of bytes as seen through an image's whole backing chain: QEMU's
 * {@code bdrv_block_status_above(bs, NULL, ...)}, which {@code qemu-img convert} and {@code qemu-img compare}
 * are built on. {@link BlockDevice#extents} describes one layer; where a layer leaves a range undefined (a
 * {@link Extent#hole hole}), this asks the backing image, down the chain.
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
public record BlockStatus(long offset, long length, boolean allocated, boolean zero, boolean data, boolean offsetValid,
    boolean eof) {

  public long end() {
    return offset + length;
  }

  /** True if the two runs have the same status bits (QEMU's status word without the offset and length). */
  public boolean sameBits(BlockStatus other) {
    return allocated == other.allocated && zero == other.zero && data == other.data
        && offsetValid == other.offsetValid && eof == other.eof;
  }

  /**
   * The status of the run starting at {@code offset}, at most {@code length} bytes, through {@code device}'s
   * backing chain. Past the end of a shorter backing image the bytes read as zeroes and count as allocated,
   * as in QEMU.
   *
   * @param length positive, and {@code offset + length <= device.size()}
   */
  public static BlockStatus of(BlockDevice device, long offset, long length) throws IOException {
    BlockStatus s = resolve(device, offset, length);
    // QEMU sets EOF relative to the top image, whichever layer defined the run.
    boolean eof = s.end() == device.size();
    return new BlockStatus(s.offset, s.length, s.allocated, s.zero, s.data, s.offsetValid, eof);
  }

  private static BlockStatus resolve(BlockDevice device, long offset, long length) throws IOException {
    Extent e = device.extents(offset, length).getFirst();
    if (e.present()) {
      return new BlockStatus(offset, e.length(), true, e.zero(), e.data(), e.hostOffset() != Extent.NO_OFFSET, false);
    }
    Optional<BlockDevice> backing = backingOf(device);
    if (backing.isEmpty()) {
      return new BlockStatus(offset, e.length(), false, true, false, false, false);
    }
    BlockDevice below = backing.get();
    long belowSize = below.size();
    if (offset >= belowSize) {
      return new BlockStatus(offset, e.length(), true, true, false, false, false);
    }
    return resolve(below, offset, Math.min(e.length(), belowSize - offset));
  }

  /** The image below {@code device} in its chain: only qcow2 images have backing images today. */
  private static Optional<BlockDevice> backingOf(BlockDevice device) {
    return Qcow2Format.isQcow2(device) ? Qcow2Format.backing(device).map(Qcow2Format.Backing::device) : Optional.empty();
  }
}
