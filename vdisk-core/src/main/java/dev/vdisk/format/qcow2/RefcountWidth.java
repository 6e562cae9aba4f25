package dev.vdisk.format.qcow2;

import java.nio.ByteBuffer;

/**
 * The width of refcount entries, {@code 1 << refcount_order} bits (1 to 64), and how entries are packed in a
 * refcount block: entries narrower than a byte fill each byte from its least significant bit (entry 0 is bit 0 of
 * byte 0, as QEMU packs them); entries of 8 bits and more are big-endian.
 *
 * @param order refcount_order, 0 to 6
 */
record RefcountWidth(int order) {
  RefcountWidth {
    if (order < 0 || order > 6) {
      throw new IllegalArgumentException("refcount_order: " + order + " (expected: 0 to 6)");
    }
  }

  int bits() {
    return 1 << order;
  }

  /** The largest refcount an entry holds, as an unsigned 64-bit value (all ones for 64-bit entries). */
  long max() {
    return order == 6 ? -1L : (1L << bits()) - 1;
  }

  /** log2 of the entries in one refcount block of {@code 1 << clusterBits} bytes. */
  int blockBits(int clusterBits) {
    return clusterBits + 3 - order;
  }

  /** Entry {@code index} of {@code block} (absolute indexing, the buffer's position is ignored), unsigned. */
  long get(ByteBuffer block, int index) {
    return switch (order) {
      case 0, 1, 2 -> {
        int perByte = 8 >> order;
        int shift = (index & (perByte - 1)) << order;
        yield ((block.get(index / perByte) & 0xff) >>> shift) & max();
      }
      case 3 -> block.get(index) & 0xffL;
      case 4 -> block.getShort(index * 2) & 0xffffL;
      case 5 -> block.getInt(index * 4) & 0xffff_ffffL;
      default -> block.getLong(index * 8);
    };
  }

  /**
   * Stores {@code value} as entry {@code index} of {@code block} (absolute indexing), leaving the other entries of
   * a shared byte untouched.
   *
   * @throws IllegalArgumentException if {@code value} (unsigned) exceeds {@link #max()}
   */
  void set(ByteBuffer block, int index, long value) {
    if (order < 6 && Long.compareUnsigned(value, max()) > 0) {
      throw new IllegalArgumentException("refcount: " + Long.toUnsignedString(value) + " (expected: at most " + max() + " for " + bits() + "-bit entries)");
    }
    switch (order) {
      case 0, 1, 2 -> {
        int perByte = 8 >> order;
        int shift = (index & (perByte - 1)) << order;
        int at = index / perByte;
        int mask = (int) max() << shift;
        block.put(at, (byte) ((block.get(at) & ~mask) | ((int) value << shift)));
      }
      case 3 -> block.put(index, (byte) value);
      case 4 -> block.putShort(index * 2, (short) value);
      case 5 -> block.putInt(index * 4, (int) value);
      default -> block.putLong(index * 8, value);
    }
  }
}
