package dev.vdisk.io.rbd;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Where librbd's callbacks land. The two upcall stubs of {@link RbdNative} are made once, so each call passes a
 * number as its {@code void *arg} and this class finds the Java receiver registered under it. The callbacks must
 * not throw (an exception in an upcall ends the JVM): each catches everything and reports it to its receiver.
 */
final class RbdCallbacks {
  /** {@code rbd_diff_iterate2}'s callback result that stops the iteration; librbd returns it unchanged. */
  static final int STOP = -9000;

  private static final AtomicLong NEXT = new AtomicLong(1); // 0 is NO_DIFF
  private static final Map<Long, RbdDiffCollector> DIFFS = new ConcurrentHashMap<>();
  /**
   * Synchronous requests waiting for their callback, by slot: chunks of {@link #CHUNK} cells made as more requests are
   * in flight at once and never moved, so librbd's callback finds a request without a lock, a boxed Long or a hash
   * map's node per request. A slot's number is the request's {@code void *arg}.
   */
  private static final int CHUNK_BITS = 8;
  private static final int CHUNK = 1 << CHUNK_BITS;
  private static final AtomicReferenceArray<AtomicReferenceArray<RbdCompletion>> WAITING =
      new AtomicReferenceArray<>(1 << 12);
  /** Free slots, a stack of {@link #freeSlots} ints, and the chunks made: guarded by {@link #SLOTS}. */
  private static final Object SLOTS = new Object();
  private static int[] free = new int[CHUNK];
  private static int freeSlots;
  private static int chunks;
  /**
   * Open queues by their number: an array, so librbd's callback finds a queue's request without boxing a Long per
   * completion. Copied (twice as long) when full, under the class's lock; a closed queue's cell is reused.
   */
  private static volatile AtomicReferenceArray<RbdQueue> queues = new AtomicReferenceArray<>(64);
  /** Marks a queued request's argument ({@link #argument}): the queue's number above the slot's 16 bits. */
  private static final long QUEUED = 1L << 62;
  /**
   * A completion's {@code void *arg} that names no request: a queued one of a queue number no table reaches, so
   * {@link #completed} does nothing (what {@link RbdNative#linkCallbacks} calls it with).
   */
  static final long NOBODY = argument(Integer.MAX_VALUE, 0);
  /** A diff's {@code void *arg} that names no iteration (numbers start at 1): {@link #diffExtent} returns {@link #STOP}. */
  static final long NO_DIFF = 0;

  private RbdCallbacks() {}

  /**
   * Registers {@code c} until its callback runs; returns its slot, its {@code void *arg}, which its waiter gives back
   * with {@link #release} once the callback ran or will never run.
   *
   * @throws IllegalStateException when a million synchronous requests are in flight already
   */
  static int register(RbdCompletion c) {
    int slot;
    synchronized (SLOTS) {
      if (freeSlots == 0) {
        grow();
      }
      slot = free[--freeSlots];
    }
    WAITING.get(slot >>> CHUNK_BITS).set(slot & (CHUNK - 1), c);
    return slot;
  }

  /** One more chunk of free slots; the caller holds {@link #SLOTS}. */
  private static void grow() {
    if (chunks == WAITING.length()) {
      throw new IllegalStateException("rbd: " + chunks * CHUNK + " synchronous requests in flight (expected: fewer)");
    }
    WAITING.set(chunks, new AtomicReferenceArray<>(CHUNK));
    if (free.length < (chunks + 1) * CHUNK) {
      free = java.util.Arrays.copyOf(free, (chunks + 1) * CHUNK);
    }
    for (int i = CHUNK - 1; i >= 0; i--) {
      free[freeSlots++] = chunks * CHUNK + i;
    }
    chunks++;
  }

  /**
   * Gives back {@code slot} once its callback ran, or will never run (the AIO call was refused): a later request may
   * take it.
   */
  static void release(int slot) {
    WAITING.get(slot >>> CHUNK_BITS).set(slot & (CHUNK - 1), null);
    synchronized (SLOTS) {
      free[freeSlots++] = slot;
    }
  }

  /** Registers {@code d} for the duration of one {@code rbd_diff_iterate2}; returns its {@code void *arg}. */
  static long register(RbdDiffCollector d) {
    long id = NEXT.getAndIncrement();
    DIFFS.put(id, d);
    return id;
  }

  /** Forgets {@code d} once its iteration returned. */
  static void forget(RbdDiffCollector d, long id) {
    DIFFS.remove(id, d);
  }

  /** Registers {@code q} until it is closed; returns its number for {@link #argument}. */
  static synchronized long register(RbdQueue q) {
    AtomicReferenceArray<RbdQueue> table = queues;
    for (int i = 0; i < table.length(); i++) {
      if (table.get(i) == null) {
        table.set(i, q);
        return i;
      }
    }
    AtomicReferenceArray<RbdQueue> grown = new AtomicReferenceArray<>(table.length() * 2);
    for (int i = 0; i < table.length(); i++) {
      grown.set(i, table.get(i));
    }
    int id = table.length();
    grown.set(id, q);
    queues = grown;
    return id;
  }

  /** Forgets a closed queue (its requests all reaped, so no callback for it is pending). */
  static synchronized void forget(RbdQueue q, long id) {
    queues.compareAndSet((int) id, q, null);
  }

  /** The {@code void *arg} of the request in {@code slot} of the queue registered as {@code queue}. */
  static long argument(long queue, int slot) {
    return QUEUED | queue << 16 | slot;
  }

  /**
   * {@code rbd_callback_t}, {@code void (*)(rbd_completion_t, void *)}: runs on a librbd thread when an AIO request
   * completes. A queued request's completion is only recorded for its queue's thread ({@link RbdQueue#finished}); a
   * synchronous request's waiter gets the result. In {@link RbdNative#CALLBACK}'s shape: the last two arguments are
   * whatever their registers held (librbd passes two), the result is ignored by librbd.
   */
  static long completed(long completion, long a, long unused, long unused2) {
    if ((a & QUEUED) != 0) {
      int index = (int) ((a & ~QUEUED) >>> 16);
      AtomicReferenceArray<RbdQueue> table = queues;
      RbdQueue q = index < table.length() ? table.get(index) : null;
      if (q != null) {
        q.finished((int) (a & 0xffff));
      }
      return 0;
    }
    AtomicReferenceArray<RbdCompletion> chunk = a >>> CHUNK_BITS < WAITING.length() ? WAITING.get((int) (a >>> CHUNK_BITS)) : null;
    RbdCompletion c = chunk == null ? null : chunk.getAndSet((int) (a & (CHUNK - 1)), null);
    if (c != null) {
      c.complete(completion);
    }
    return 0;
  }

  /**
   * {@code rbd_diff_iterate2}'s callback, {@code int (*)(uint64_t offset, size_t length, int exists, void *arg)}: one
   * run of existing or absent objects. In {@link RbdNative#CALLBACK}'s shape: {@code exists} is the low 32 bits of
   * its register (the ABIs leave the rest unspecified), and librbd reads the low 32 bits of the result.
   */
  static long diffExtent(long offset, long length, long exists, long arg) {
    RbdDiffCollector d = DIFFS.get(arg);
    return d == null ? STOP : d.accept(offset, length, (int) exists != 0);
  }
}
