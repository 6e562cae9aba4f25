package dev.vdisk.ops.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Runs the writes of contiguous ranges, handed in by many threads in any order, one at a time in ascending order of
 * their offsets, from offset 0: convert's in-order writes (qemu-img's default). A write runs on whichever thread is at
 * hand when its turn comes: the thread that ran the write before it goes on with the next one if that one is already
 * waiting, so that consecutive writes follow each other on one thread. Waking each write's own thread for its turn put
 * a thread hand-off (a futex wake and a schedule, tens of microseconds on a busy 2-core machine, more under load)
 * between every two writes of the copy's one serial path; the owners of writes run by another thread are woken after
 * their write, off that path.
 *
 * <p>A write may come with a warm-up that its caller runs while the write waits, once the write just before it has
 * started ({@link #run(long, long, Runnable, Runnable)}): convert's writes copy from a mapping of the source, and a
 * copy whose source lines a read on another core has just brought into a cache costs less on this serial path than
 * one that fetches them from memory. One write ahead, not more: lines read further ahead are evicted again before
 * their write (the writes themselves stream through the caches).
 *
 * <p>A write or a warm-up must not throw; if a write does anyway, the writes after it wait until {@link #stop}.
 * Thread-safe.
 */
final class InOrderWrites {
  private final ReentrantLock lock = new ReentrantLock();
  /** Guarded by {@link #lock}: the writes handed in before their turn, by offset. */
  private final Map<Long, Waiting> waiting = new HashMap<>();
  /** Guarded by {@link #lock}: where the next write starts. */
  private long next;
  /** Guarded by {@link #lock}: whether a thread is running writes now (the only one that may). */
  private boolean running;
  /** Guarded by {@link #lock}: where the write running now ends, while {@link #running}. */
  private long runningEnd;
  /** Guarded by {@link #lock}: after {@link #stop}, writes are dropped. */
  private boolean stopped;

  /**
   * A write handed in before its turn, whether it has run (or was dropped), and its warm-up until its caller takes it
   * to run (null then, or if it has none): guarded by the lock.
   */
  private static final class Waiting {
    final long end;
    final Runnable write;
    final Condition finished;
    Runnable warm;
    /** Whether the write before this one has started, so that the warm-up is due. */
    boolean warmDue;
    boolean done;

    Waiting(long end, Runnable write, Runnable warm, Condition finished) {
      this.end = end;
      this.write = write;
      this.warm = warm;
      this.finished = finished;
    }
  }

  /**
   * Runs {@code write}, the write of {@code [offset, end)}, when every range below {@code offset} has been written,
   * on this thread or another, and returns after it has run, or at once without running it after {@link #stop}. The
   * caller may then reuse what the write read. The ranges handed in must tile the space from 0 without overlap.
   */
  void run(long offset, long end, Runnable write) {
    run(offset, end, write, null);
  }

  /**
   * {@link #run(long, long, Runnable)}, with {@code warm} (null: none) run on this thread before it returns if the
   * write has to wait: once the write just before it has started (at once if it has already), never earlier, and at
   * most once. The write may start before the warm-up is over (on another thread, reading what the warm-up reads); a
   * write whose turn has come when it is handed in, or comes before the write before it starts (that write's thread
   * goes straight on to this one), has no warm-up, nor has one dropped by {@link #stop}.
   */
  void run(long offset, long end, Runnable write, Runnable warm) {
    lock.lock();
    try {
      if (stopped) {
        return;
      }
      if (running || next != offset) {
        Waiting mine = new Waiting(end, write, warm, lock.newCondition());
        mine.warmDue = running && runningEnd == offset;
        waiting.put(offset, mine);
        // Uninterruptibly: the write may be running on another thread from what the caller passed in. An interrupted
        // copy stops this object, which releases every write still waiting.
        while (!mine.done) {
          if (mine.warmDue && mine.warm != null) {
            Runnable w = mine.warm;
            mine.warm = null;
            lock.unlock();
            try {
              w.run();
            } finally {
              lock.lock();
            }
          } else {
            mine.finished.awaitUninterruptibly();
          }
        }
        return;
      }
      starting(end);
    } finally {
      lock.unlock();
    }
    runFrom(end, write);
  }

  /** A write that ends at {@code end} starts now: the warm-up of the write after it is due. With the lock held. */
  private void starting(long end) {
    running = true;
    runningEnd = end;
    Waiting after = waiting.get(end);
    if (after != null && after.warm != null) {
      after.warmDue = true;
      after.finished.signal();
    }
  }

  /** Runs {@code write}, then every write whose turn follows while it is waiting already; with {@link #running}. */
  private void runFrom(long end, Runnable write) {
    Waiting other = null; // the write being run for another thread; null for the caller's own
    while (true) {
      boolean ran = false;
      try {
        write.run();
        ran = true;
      } finally {
        lock.lock();
        try {
          next = end;
          if (other != null) {
            other.done = true;
            other.finished.signal();
          }
          other = ran && !stopped ? waiting.remove(next) : null;
          running = false;
          if (other != null) {
            starting(other.end);
          }
        } finally {
          lock.unlock();
        }
      }
      if (other == null) {
        return;
      }
      write = other.write;
      end = other.end;
    }
  }

  /** Drops the writes waiting and every write handed in later; their callers return without them running. */
  void stop() {
    lock.lock();
    try {
      stopped = true;
      for (Waiting w : waiting.values()) {
        w.done = true;
        w.finished.signal();
      }
      waiting.clear();
    } finally {
      lock.unlock();
    }
  }
}
