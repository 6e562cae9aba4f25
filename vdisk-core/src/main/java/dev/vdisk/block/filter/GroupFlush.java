package dev.vdisk.block.filter;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Group commit: concurrent callers share flushes of one device instead of each making its own.
 *
 * <p>{@link #flush()} returns once a flush of the device that <em>started after the call</em> has completed, so
 * every write that completed before the call is durable then. Flushes run one at a time; a caller that arrives
 * while one runs waits for the next, which a single caller (the leader) then makes for everyone waiting. Alone, a
 * caller flushes at once, as before.
 *
 * <p>Writers announce their writes ({@link #writeStarted()}, then {@link #writeCompleted(boolean)}), and a leader
 * starts its flush only once no announced write is still in flight: those writers would otherwise need the next
 * flush, and at depth 16 the writers would split into two cohorts that alternate, half of them per flush (the
 * writers just acknowledged are writing again while the others' flush starts). Waiting for them costs a leader at
 * most the time of the writes in flight, since a writer whose write completed comes to wait for the same flush; it
 * never waits for a write that has not started, and never while it alone writes (depth 1).
 *
 * <p>Generations count flushes: {@code started} is the number begun, {@code completed} the number finished. A call
 * needs generation {@code started + 1} as it finds them (a flush running then began too early). If the newest
 * completed flush failed, its waiters get its error.
 */
final class GroupFlush {
  private final BlockDevice device;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition done = lock.newCondition();
  private final Condition writesLanded = lock.newCondition();
  private long started;
  private long completed;
  /** A leader holds the next flush: it is running, or waiting for the writes in flight to complete first. */
  private boolean running;
  /** Announced writes that have not completed. */
  private int inFlight;
  /** The error of flush generation {@link #completed}, or null if it succeeded. */
  private IOException lastFailure;

  GroupFlush(BlockDevice device) {
    this.device = device;
  }

  /** Announces a write to the device that is about to start; {@link #writeCompleted(boolean)} must follow it. */
  void writeStarted() {
    lock.lock();
    try {
      inFlight++;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Ends a write announced by {@link #writeStarted()} and, if it succeeded, returns as {@link #flush()} does: once a
   * flush that started after the write completed has completed.
   *
   * @param succeeded whether the write succeeded; a failed one is not flushed
   * @throws IOException that flush's error
   */
  void writeCompleted(boolean succeeded) throws IOException {
    lock.lock();
    try {
      if (--inFlight == 0) {
        writesLanded.signalAll();
      }
      if (succeeded) {
        awaitFlush();
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns once a flush of the device that started after this call has completed.
   *
   * @throws IOException that flush's error
   */
  void flush() throws IOException {
    lock.lock();
    try {
      awaitFlush();
    } finally {
      lock.unlock();
    }
  }

  /** {@link #flush()}, with the lock held. */
  private void awaitFlush() throws IOException {
    long needed = started + 1;
    while (completed < needed) {
      if (running) {
        done.awaitUninterruptibly();
        continue;
      }
      running = true;
      while (inFlight > 0) { // let the flush cover the writes in flight (their writers would wait for the next)
        writesLanded.awaitUninterruptibly();
      }
      long generation = ++started;
      IOException failure = null;
      lock.unlock();
      try {
        device.flush();
      } catch (IOException e) {
        failure = e;
      } finally {
        lock.lock();
        running = false;
        completed = generation;
        lastFailure = failure;
        done.signalAll();
      }
    }
    if (lastFailure != null) {
      throw lastFailure;
    }
  }
}
