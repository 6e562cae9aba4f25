package dev.vdisk.nbd.server;

import dev.vdisk.io.internal.DirectBuffers;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Page-aligned direct buffers for request payloads, reused across requests and connections: allocating a
 * direct buffer costs far more than a 4 KiB read, and aligned buffers go to O_DIRECT files without a bounce.
 * Sizes are rounded up to powers of two from 4 KiB.
 *
 * <p>Buffers of {@link #SLAB_MIN} up to a transparent huge page are carved from huge pages ({@link
 * DirectBuffers#contiguous}), a huge page at a time for one size class (2 MiB: two 1 MiB buffers, eight of 256 KiB), so
 * that each lies within one: an O_DIRECT request on it reaches the disk as one segment instead of one per 4 KiB page. On
 * a virtio disk without indirect descriptors a 1 MiB request from ordinary memory takes the whole 256-entry ring and the
 * device holds one at a time (the block layer requeues the others); from a huge page it holds the client's whole depth.
 * These slabs stay mapped for the pool's life, up to half of {@code retainBytes} (whole huge pages); once that much is
 * mapped, and for every size where the system has no huge pages, buffers are ordinary memory.
 *
 * <p>At most {@code retainBytes} sit idle in the pool. Where huge pages are to be had, half of it is the slabs' (counted
 * whole, whether their buffers are idle or not) and idle ordinary buffers are kept within the other half; elsewhere
 * ordinary buffers have all of it. The halves are fixed, so that slabs grown by a burst of large requests never take
 * the room of the small buffers every request uses: each of those would then be allocated and freed again, and closing
 * a shared arena costs a handshake with every thread. An ordinary buffer the pool does not keep is freed at once (each
 * lives in its own arena), not when the collector finds it: a flood of large requests would otherwise leave gigabytes
 * of dead direct memory behind. Safe for concurrent use; taking and giving back a pooled buffer allocates nothing on
 * the heap (each size class is an array stack under its own monitor, held for a few instructions), as a payload of
 * every WRITE comes from here.
 */
final class BufferPool {
  private static final int MIN_SHIFT = 12;

  /**
   * The smallest buffer carved from huge pages. From ordinary memory a 64 KiB request takes 18 ring descriptors (16
   * pages and the header and status), so a 256-entry ring holds 14 of them and a client at depth 16 already sees
   * requeues (482 in 8,000 reads on the project's VM; 1,106 at 128 KiB; none from slabs); a 32 KiB one takes 10, and 25
   * fit, more than clients keep in flight.
   */
  static final int SLAB_MIN = 64 << 10;

  private final Stack[] free;
  /** The idle bytes of ordinary buffers kept at most: {@code retainBytes} less {@link #slabLimit}. */
  private final long retainOrdinary;
  private final long hugePage;
  /** The size classes carved from huge pages: {@code firstSlab} to {@code lastSlab}, none if the first is greater. */
  private final int firstSlab;
  private final int lastSlab;
  /** The huge-page bytes slabs may take: half of {@code retainBytes}, rounded down to whole huge pages. */
  private final long slabLimit;
  /** Huge-page bytes mapped for slabs so far (never given back while the pool lives). */
  private final AtomicLong slabBytes = new AtomicLong();
  /** Bytes of the idle ordinary buffers in {@link #free}. */
  private final AtomicLong retained = new AtomicLong();
  /** The arena of each ordinary buffer handed out or retained, by the address of its first byte. */
  private final Map<Long, Arena> arenas = new ConcurrentHashMap<>();

  BufferPool(int maxSize, long retainBytes) {
    this(maxSize, retainBytes, DirectBuffers.hugePageSize());
  }

  /** @param hugePage the system's transparent huge page size ({@link DirectBuffers#hugePageSize}), or 0: no slabs */
  BufferPool(int maxSize, long retainBytes, long hugePage) {
    int classes = shift(maxSize) - MIN_SHIFT + 1;
    free = new Stack[classes];
    for (int i = 0; i < classes; i++) {
      free[i] = new Stack();
    }
    this.hugePage = hugePage;
    this.slabLimit = hugePage > 0 ? retainBytes / 2 / hugePage * hugePage : 0;
    this.retainOrdinary = retainBytes - slabLimit;
    this.firstSlab = shift(SLAB_MIN) - MIN_SHIFT;
    this.lastSlab = hugePage >= SLAB_MIN ? Math.min(classes - 1, Long.numberOfTrailingZeros(hugePage) - MIN_SHIFT) : -1;
  }

  /** A buffer with position 0 and limit {@code n} (at most the pool's max size). */
  ByteBuffer acquire(int n) {
    int c = shift(n) - MIN_SHIFT;
    ByteBuffer b = free[c].pop(retained);
    if (b == null && c >= firstSlab && c <= lastSlab) {
      b = carve(c);
    }
    if (b == null) {
      int size = 1 << (c + MIN_SHIFT);
      Arena arena = Arena.ofShared();
      MemorySegment segment = arena.allocate(size, DirectBuffers.ALIGNMENT);
      arenas.put(segment.address(), arena);
      return segment.asByteBuffer().limit(n); // capacity exactly the class size
    }
    return b.clear().limit(n);
  }

  /** Gives {@code b} (from {@link #acquire}) back; the caller no longer uses it. */
  void release(ByteBuffer b) {
    int c = shift(b.capacity()) - MIN_SHIFT;
    if (c >= firstSlab && c <= lastSlab && free[c].pushSlab(b)) {
      return;
    }
    if (retained.addAndGet(b.capacity()) <= retainOrdinary) {
      free[c].push(b);
    } else {
      retained.addAndGet(-b.capacity());
      arenas.remove(MemorySegment.ofBuffer(b.clear()).address()).close();
    }
  }

  /**
   * Maps one more huge page for size class {@code c} if the limit allows, keeps all but one of its buffers idle and
   * returns that one; null once the limit is reached.
   */
  private ByteBuffer carve(int c) {
    long mapped;
    do {
      mapped = slabBytes.get();
      if (mapped + hugePage > slabLimit) {
        return null;
      }
    } while (!slabBytes.compareAndSet(mapped, mapped + hugePage));
    int size = 1 << (c + MIN_SHIFT);
    ByteBuffer[] slab = DirectBuffers.contiguous((int) (hugePage / size), size, hugePage);
    for (int i = 0; i < slab.length; i++) {
      // Capacity exactly the class size, which release reads (a refused mapping gives buffers with spare capacity).
      slab[i] = slab[i].slice(0, size);
    }
    return free[c].addSlab(slab);
  }

  /**
   * The idle buffers of one size class, last in first out (the most recently used buffer is the likeliest to be in
   * the CPU's cache), and the class's huge-page slab buffers, idle or not. Its array grows by doubling and never
   * shrinks: it holds at most the retained bytes' worth of references.
   */
  private static final class Stack {
    private ByteBuffer[] items = new ByteBuffer[16];
    private int size;
    /** Every buffer carved from a huge page for this class: they always come back here. */
    private final Set<ByteBuffer> slab = Collections.newSetFromMap(new IdentityHashMap<>());

    /** The last buffer pushed, or null; an ordinary one's bytes are taken off {@code retained}. */
    synchronized ByteBuffer pop(AtomicLong retained) {
      if (size == 0) {
        return null;
      }
      ByteBuffer b = items[--size];
      items[size] = null;
      if (!slab.contains(b)) {
        retained.addAndGet(-b.capacity());
      }
      return b;
    }

    synchronized void push(ByteBuffer b) {
      if (size == items.length) {
        items = Arrays.copyOf(items, 2 * size);
      }
      items[size++] = b;
    }

    /** Pushes {@code b} if it is one of this class's slab buffers, and says whether it was. */
    synchronized boolean pushSlab(ByteBuffer b) {
      if (!slab.contains(b)) {
        return false;
      }
      push(b);
      return true;
    }

    /** Records {@code buffers} as slab buffers, pushes all but the first and returns that one. */
    synchronized ByteBuffer addSlab(ByteBuffer[] buffers) {
      Collections.addAll(slab, buffers);
      for (int i = 1; i < buffers.length; i++) {
        push(buffers[i]);
      }
      return buffers[0];
    }
  }

  private static int shift(int n) {
    return Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(n, 1) - 1));
  }
}
