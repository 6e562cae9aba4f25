package dev.vdisk.nbd.server;

import dev.vdisk.io.internal.DirectBuffers;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Page-aligned direct buffers for request payloads, reused across requests and connections: allocating a
 * direct buffer costs far more than a 4 KiB read, and aligned buffers go to O_DIRECT files without a bounce.
 * Sizes are rounded up to powers of two from 4 KiB; at most {@code retainBytes} sit idle in the pool. A buffer the
 * pool does not keep is freed at once (each lives in its own arena), not when the collector finds it: a flood of
 * large requests would otherwise leave gigabytes of dead direct memory behind. Safe for concurrent use; taking and
 * giving back a pooled buffer allocates nothing on the heap (each size class is an array stack under its own monitor,
 * held for a few instructions), as a payload of every WRITE comes from here.
 */
final class BufferPool {
  private static final int MIN_SHIFT = 12;

  private final Stack[] free;
  private final long retainBytes;
  private final AtomicLong retained = new AtomicLong();
  /** The arena of each buffer handed out or retained, by the address of its first byte. */
  private final Map<Long, Arena> arenas = new ConcurrentHashMap<>();

  BufferPool(int maxSize, long retainBytes) {
    int classes = shift(maxSize) - MIN_SHIFT + 1;
    free = new Stack[classes];
    for (int i = 0; i < classes; i++) {
      free[i] = new Stack();
    }
    this.retainBytes = retainBytes;
  }

  /** A buffer with position 0 and limit {@code n} (at most the pool's max size). */
  ByteBuffer acquire(int n) {
    int c = shift(n) - MIN_SHIFT;
    ByteBuffer b = free[c].pop();
    if (b == null) {
      int size = 1 << (c + MIN_SHIFT);
      Arena arena = Arena.ofShared();
      MemorySegment segment = arena.allocate(size, DirectBuffers.ALIGNMENT);
      arenas.put(segment.address(), arena);
      return segment.asByteBuffer().limit(n); // capacity exactly the class size
    }
    retained.addAndGet(-b.capacity());
    return b.clear().limit(n);
  }

  /** Gives {@code b} (from {@link #acquire}) back; the caller no longer uses it. */
  void release(ByteBuffer b) {
    int c = shift(b.capacity()) - MIN_SHIFT;
    if (retained.addAndGet(b.capacity()) <= retainBytes) {
      free[c].push(b);
    } else {
      retained.addAndGet(-b.capacity());
      arenas.remove(MemorySegment.ofBuffer(b.clear()).address()).close();
    }
  }

  /**
   * The idle buffers of one size class, last in first out (the most recently used buffer is the likeliest to be in
   * the CPU's cache). Its array grows by doubling and never shrinks: it holds at most the retained bytes' worth of
   * references.
   */
  private static final class Stack {
    private ByteBuffer[] items = new ByteBuffer[16];
    private int size;

    synchronized ByteBuffer pop() {
      if (size == 0) {
        return null;
      }
      ByteBuffer b = items[--size];
      items[size] = null;
      return b;
    }

    synchronized void push(ByteBuffer b) {
      if (size == items.length) {
        items = Arrays.copyOf(items, 2 * size);
      }
      items[size++] = b;
    }
  }

  private static int shift(int n) {
    return Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(n, 1) - 1));
  }
}
