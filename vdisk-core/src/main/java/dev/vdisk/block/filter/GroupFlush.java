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
 * while one runs waits for the next, which a single caller then makes for everyone waiting. Under load that is one
 * fdatasync per round instead of one per write; alone, a caller flushes at once, as before.
 *
 * <p>Generations count flushes: {@code started} is the number begun, {@code completed} the number finished. A call
 * needs generation {@code started + 1} as it finds them (a flush running then began too early). If the newest
 * completed flush failed, its waiters get its error.
 */
final class GroupFlush {
  private final BlockDevice device;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition done = lock.newCondition();
  private long started;
  private long completed;
  private boolean running;
  /** The error of flush generation {@link #completed}, or null if it succeeded. */
  private IOException lastFailure;

  GroupFlush(BlockDevice device) {
    this.device = device;
  }

  /**
   * Returns once a flush of the device that started after this call has completed.
   *
   * @throws IOException that flush's error
   */
  void flush() throws IOException {
    lock.lock();
    try {
      long needed = started + 1;
      while (completed < needed) {
        if (running) {
          done.awaitUninterruptibly();
          continue;
        }
        long generation = ++started;
        running = true;
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
    } finally {
      lock.unlock();
    }
  }
}
