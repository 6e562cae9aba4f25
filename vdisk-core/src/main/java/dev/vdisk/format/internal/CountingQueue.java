package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.RequestQueue;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A {@link ForwardingQueue} whose requests stay counted in a count the image shares among its queues from before they
 * are checked until their completion was reaped, so that the image can wait until none of them is in flight (a
 * shrink, a release of clusters). The subclass adds one to the shared count itself, then calls {@link #counted};
 * this class gives counts back through {@link #release}: for a request that did not go below ({@link #uncount}), for
 * those that left the queue below ({@link #settle}, after every reap), and for all still held at {@link #close}.
 *
 * <p>Requests are counted out at a reap by how many left the queue below; requests there that were not counted hold
 * back that many until they too have left, so the count errs only towards a longer wait, never a shorter one.
 */
public abstract class CountingQueue extends ForwardingQueue {
  /** How long {@link #awaitNone} waits. */
  private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(30);

  /** This queue's share of the shared count: requests sent below and not yet seen gone from it. */
  private int counted;

  protected CountingQueue(RequestQueue below) {
    super(below);
  }

  /** Lowers the shared count by {@code n}. */
  protected abstract void release(int n);

  /** Notes one request the subclass has just added to the shared count. */
  protected final void counted() {
    counted++;
  }

  /** Takes back the count of a request that did not go below. */
  protected final void uncount() {
    counted--;
    release(1);
  }

  /** Counts out the requests that left the queue below since the last call. */
  protected final void settle() {
    int gone = counted - below().inFlight();
    if (gone > 0) {
      counted -= gone;
      release(gone);
    }
  }

  @Override
  public int reap(int min, Completion done) throws IOException {
    try {
      return super.reap(min, done);
    } finally {
      settle();
    }
  }

  @Override
  public boolean awaitReadable(int fd, Completion done) throws IOException {
    try {
      return super.awaitReadable(fd, done);
    } finally {
      settle();
    }
  }

  @Override
  public void close() throws IOException {
    try {
      super.close();
    } finally {
      release(counted);
      counted = 0;
    }
  }

  /**
   * Waits until {@code count} (a count the image's queues share) is zero; the caller has already stopped new
   * requests from being counted. Bounded: a queue whose owner does not reap (say, the thread that waits owns it)
   * gets an error, not a hang.
   *
   * @param op what waits, for the message ("resize")
   * @throws BlockDeviceException EIO if requests are still counted after 30 s
   */
  public static void awaitNone(AtomicInteger count, String op) throws BlockDeviceException {
    long deadline = System.nanoTime() + DRAIN_NANOS;
    while (count.get() > 0) {
      if (System.nanoTime() - deadline > 0) {
        throw new BlockDeviceException(BlockError.EIO, op + ": " + count.get() + " requests still in flight after "
            + TimeUnit.NANOSECONDS.toSeconds(DRAIN_NANOS) + " s (expected: their queue's owner to reap them; a thread"
            + " must not shrink an image while its own queue has requests in flight)");
      }
      LockSupport.parkNanos(100_000);
    }
  }
}
