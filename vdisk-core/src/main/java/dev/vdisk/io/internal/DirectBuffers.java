package dev.vdisk.io.internal;

import java.nio.ByteBuffer;

/** I/O buffers that any device accepts without copying, O_DIRECT files included. */
public final class DirectBuffers {
  /** The page size and the largest logical block size O_DIRECT asks buffers to be aligned to. */
  public static final int ALIGNMENT = 4096;

  /** The largest buffer {@link #aligned} can make: the rounding and the alignment slack must fit an int. */
  public static final int MAX_SIZE = Integer.MAX_VALUE - 2 * ALIGNMENT;

  private DirectBuffers() {}

  /**
   * A direct buffer of {@code n} bytes (position 0, limit {@code n}) starting on a {@link #ALIGNMENT}
   * boundary, with capacity to spare up to the next boundary.
   *
   * @throws IllegalArgumentException if {@code n} is negative or above {@link #MAX_SIZE}
   */
  public static ByteBuffer aligned(int n) {
    if (n < 0 || n > MAX_SIZE) {
      throw new IllegalArgumentException("buffer size: " + n + " (expected: 0 to " + MAX_SIZE + ")");
    }
    int rounded = (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    // alignedSlice drops up to ALIGNMENT - 1 bytes at the front, so allocate one boundary more.
    return ByteBuffer.allocateDirect(rounded + ALIGNMENT).alignedSlice(ALIGNMENT).limit(n);
  }
}
