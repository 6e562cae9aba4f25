package dev.vdisk.io.internal;

import dev.vdisk.io.linux.HugePages;
import java.lang.foreign.MemorySegment;
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

  /**
   * {@code count} buffers of {@code n} bytes each, as {@link #aligned} makes them, but carved from huge pages where the
   * system has transparent huge pages ({@link HugePages}): a buffer no larger than a huge page lies within one, so its
   * bytes are physically contiguous and an O_DIRECT request on it reaches the disk as one segment instead of one per 4
   * KiB page (a virtio disk without indirect descriptors then holds many such requests at once instead of one). The
   * buffers do not overlap; each starts on an {@link #ALIGNMENT} boundary. Where huge pages are not to be had, these
   * are {@link #aligned} buffers.
   *
   * @throws IllegalArgumentException if {@code count} is negative, or {@code n} is negative or above {@link #MAX_SIZE}
   */
  public static ByteBuffer[] contiguous(int count, int n) {
    return contiguous(count, n, HugePages.size());
  }

  /**
   * The size of the transparent huge pages {@link #contiguous(int, int)} carves buffers from: 2 MiB on x86_64, 0 where
   * the system has none ({@link HugePages#size()}).
   */
  public static long hugePageSize() {
    return HugePages.size();
  }

  /**
   * {@link #contiguous(int, int)} with the huge page size {@code huge}: {@link #hugePageSize()}, or 0 for ordinary
   * memory (what a system without huge pages gets).
   */
  public static ByteBuffer[] contiguous(int count, int n, long huge) {
    if (count < 0) {
      throw new IllegalArgumentException("buffer count: " + count + " (expected: >= 0)");
    }
    if (n < 0 || n > MAX_SIZE) {
      throw new IllegalArgumentException("buffer size: " + n + " (expected: 0 to " + MAX_SIZE + ")");
    }
    ByteBuffer[] out = new ByteBuffer[count];
    long rounded = Math.max(ALIGNMENT, (n + ALIGNMENT - 1L) / ALIGNMENT * ALIGNMENT);
    MemorySegment memory = null;
    long perPage = 0;
    long stride = 0;
    if (huge > 0 && count > 0) {
      // Small buffers are packed into a huge page without one crossing its end; large ones start on a boundary each.
      perPage = Math.max(1, huge / rounded);
      stride = rounded <= huge ? rounded : (rounded + huge - 1) / huge * huge;
      long pages = rounded <= huge ? (count + perPage - 1) / perPage : count * (stride / huge);
      memory = HugePages.allocate(pages * huge);
    }
    for (int i = 0; i < count; i++) {
      if (memory == null) {
        out[i] = aligned(n);
        continue;
      }
      long at = rounded <= huge ? i / perPage * huge + i % perPage * rounded : i * stride;
      out[i] = memory.asSlice(at, n).asByteBuffer();
    }
    return out;
  }
}
