package dev.vdisk.format.raw;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.format.internal.CountingQueue;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A raw image's drain before a shrink, as QEMU drains a node before it truncates it: a request that changes the file
 * (write, zeroes, discard, copy) is counted from before its range is checked against the size until it is done, and
 * a shrink waits until none is counted before it cuts the file. Without it a write that passed the range check under
 * the old size could land after the cut and grow the file again (RawShrinkRaceIT): a file grows under a write past
 * its end, and so does an RBD image under vdisk's writes.
 *
 * <p>The cost of a request is one counter raised and lowered (a queue lowers it once per reap for all its requests)
 * and a volatile read; the lock is taken only by resizes and by requests that met a shrink draining. Reads are not
 * counted: one in flight across a cut changes nothing, it reads the old bytes or zeroes.
 */
final class ShrinkDrain {
  /** Requests counted in by {@link #enter} or {@link #tryEnter} and not yet out. */
  private final AtomicInteger inFlight = new AtomicInteger();
  /** Held by a resize; a request that met a shrink draining waits here for its end. */
  private final ReentrantLock resizing = new ReentrantLock();
  /** Set, under {@link #resizing}, while a shrink waits for the requests in flight and cuts the file. */
  private volatile boolean draining;

  /**
   * Counts a request in, or returns false (and counts nothing) while a shrink drains. The request counts itself
   * before it reads the flag, and the shrink sets the flag before it reads the count: so either the shrink waits
   * for it or it sees the shrink.
   */
  boolean tryEnter() {
    inFlight.incrementAndGet();
    if (!draining) {
      return true;
    }
    inFlight.decrementAndGet();
    return false;
  }

  /** Counts a request in, waiting out the shrinks that drain meanwhile. Pair with {@link #exit}. */
  void enter() {
    while (!tryEnter()) {
      resizing.lock(); // the shrink holds it while it drains: this waits for its end
      resizing.unlock();
    }
  }

  /** Counts out a request that {@link #enter} or {@link #tryEnter} counted in. */
  void exit() {
    inFlight.decrementAndGet();
  }

  /** Counts out {@code n} such requests at once (a queue's, at a reap). */
  void exit(int n) {
    inFlight.addAndGet(-n);
  }

  /**
   * Resizes {@code file} to {@code newSize}, one resize at a time. A shrink first stops new requests and waits for
   * those in flight; a grow waits for none, as every request in flight lies inside the old size, so inside the new.
   *
   * @throws BlockDeviceException EIO if requests are still in flight after 30 s (a queue whose owner does not reap,
   *     say the thread that asked for the shrink): an error rather than a hang, with the file uncut
   */
  void resize(BlockDevice file, long newSize) throws IOException {
    resizing.lock();
    try {
      if (newSize >= file.size()) {
        file.resize(newSize);
        return;
      }
      draining = true;
      try {
        CountingQueue.awaitNone(inFlight, "resize");
        file.resize(newSize);
      } finally {
        draining = false;
      }
    } finally {
      resizing.unlock();
    }
  }
}
