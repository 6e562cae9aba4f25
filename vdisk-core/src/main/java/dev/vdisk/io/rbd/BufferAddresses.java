package dev.vdisk.io.rbd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Native addresses of direct buffers, from a small cache by identity: a server's, a bench's and a copy's buffers come
 * back request after request, and {@link MemorySegment#ofBuffer} makes a segment and a session each time. A direct
 * buffer's address never changes. A cell holds the buffer it names, so no address outlives its memory; cells are
 * replaced as other buffers come, and dropped by {@link #clear}. Safe for concurrent use: a cell is an immutable
 * record published whole, so a race costs at most a look-up again.
 */
final class BufferAddresses {
  private final Seen[] cells;

  /** A cache of {@code size} cells, a power of two. */
  BufferAddresses(int size) {
    if (Integer.bitCount(size) != 1) {
      throw new IllegalArgumentException("buffer address cache: " + size + " cells (expected: a power of two)");
    }
    this.cells = new Seen[size];
  }

  /** The native address of the direct buffer {@code b} at its position. */
  long address(ByteBuffer b) {
    int cell = System.identityHashCode(b) & (cells.length - 1);
    Seen s = cells[cell];
    if (s == null || s.buffer() != b) {
      s = new Seen(b, MemorySegment.ofBuffer(b).address() - b.position());
      cells[cell] = s;
    }
    return s.base() + b.position();
  }

  /** Forgets every buffer (and lets it be collected). */
  void clear() {
    Arrays.fill(cells, null);
  }

  /** A direct buffer and the native address of its index 0. */
  private record Seen(ByteBuffer buffer, long base) {}
}
