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
 * <p>A write must not throw; if it does anyway, the writes after it wait until {@link #stop}. Thread-safe.
 */
final class InOrderWrites {
  private final ReentrantLock lock = new ReentrantLock();
  /** Guarded by {@link #lock}: the writes handed in before their turn, by offset. */
  private final Map<Long, Waiting> waiting = new HashMap<>();
  /** Guarded by {@link #lock}: where the next write starts. */
  private long next;
  /** Guarded by {@link #lock}: whether a thread is running writes now (the only one that may). */
  private boolean running;
  /** Guarded by {@link #lock}: after {@link #stop}, writes are dropped. */
  private boolean stopped;

  /** A write handed in before its turn, and whether it has run (or was dropped): guarded by the lock. */
  private static final class Waiting {
    final long end;
    final Runnable write;
    final Condition finished;
    boolean done;

    Waiting(long end, Runnable write, Condition finished) {
      this.end = end;
      this.write = write;
      this.finished = finished;
    }
  }

  /**
   * Runs {@code write}, the write of {@code [offset, end)}, when every range below {@code offset} has been written,
   * on this thread or another, and returns after it has run, or at once without running it after {@link #stop}. The
   * caller may then reuse what the write read. The ranges handed in must tile the space from 0 without overlap.
   */
  void run(long offset, long end, Runnable write) {
    lock.lock();
    try {
      if (stopped) {
        return;
      }
      if (running || next != offset) {
        Waiting mine = new Waiting(end, write, lock.newCondition());
        waiting.put(offset, mine);
        // Uninterruptibly: the write may be running on another thread from what the caller passed in. An interrupted
        // copy stops this object, which releases every write still waiting.
        while (!mine.done) {
          mine.finished.awaitUninterruptibly();
        }
        return;
      }
      running = true;
    } finally {
      lock.unlock();
    }
    runFrom(end, write);
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
          running = other != null;
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
