package dev.vdisk.block.filter;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Group commit: concurrent callers share flushes of one device instead of each making its own, and a caller never
 * waits for a flush that began too early to cover it.
 *
 * <p>{@link #flush()} returns once a flush of the device that <em>started after the call</em> has completed
 * successfully, so every write that completed before the call is durable then; if that flush fails, the call throws
 * its error, and only the calls that waited for that flush do.
 *
 * <p>Up to {@code maxRunning} flushes run at once. A caller that finds a free slot starts its own flush at once
 * (alone, at depth 1, a caller flushes at once, as without this class); one that finds every slot taken joins the
 * <em>pending</em> flush, the one not started yet, or opens it, and that flush starts as soon as a running one ends.
 * A caller never joins a running flush: that one may have begun before its write completed. So the callers that
 * complete while the slots are full share one flush, and a caller waits for a running flush only to free a slot.
 * A flush that may start only alone (one slot, or a neighbours' bound of one) also waits for the writes announced in
 * flight ({@link #writeStarted}).
 *
 * <p>Several slots pay where the device's flushes run concurrently and the host merges them (ext4's fdatasync of a
 * file: the block layer folds the flushes that arrive while one is at the device into the next one, without the
 * wake-up of a waiting thread in between). Where the device serializes its flushes (qcow2 holds its metadata lock
 * across one), concurrent flushes would queue one behind the other, and one slot, one shared flush at a time, is best.
 *
 * <p><b>Neighbours</b> ({@code maxNeighbours} below {@code maxRunning}): a write whose pages touch those of a write
 * that completed and waits for its flush may start a flush only while fewer than {@code maxNeighbours} run (with a
 * bound of one, only once no flush runs and no announced write is in flight, as with one slot); else it joins the
 * pending flush, which starts once the least bound of its callers allows. Through a host's page cache, concurrent
 * fdatasyncs of adjacent dirty pages contend for them (each writes back a page or two of the run as a request of its
 * own, or waits for another's) and reach the disk's flush at scattered times: 40,000 sequential 4 KiB writes at depth
 * 16 took 40,000 fdatasyncs and up to 28,000 device flushes with 16 slots, about 4,900 of each with one for
 * neighbours (figures in {@code Images}). Scattered writes have no neighbours and keep every slot. While a flush is
 * pending nobody starts one, so callers that may use more slots never starve the pending one; a caller's bound only
 * delays its flush, never lets it join a running one.
 *
 * <p>A flush that starts at once has no other waiter (nobody can join a flush that is already running), so it costs
 * a lock round and no allocation; a pending flush is an object its waiters share.
 */
final class GroupFlush {
  private final BlockDevice device;
  private final int maxRunning;
  /** Flushes at once that a write next to a waiting write may start; tracked only if below maxRunning. */
  private final int maxNeighbours;
  /** The writes that completed and wait for a flush, if neighbours are told apart (its own monitor); else null. */
  private final WaitingWrites waiting;
  private final ReentrantLock lock = new ReentrantLock();
  /** The pending flush's opener waits here for a slot; signalled when a flush ends or the writes in flight did. */
  private final Condition slotFree = lock.newCondition();
  /** Flushes running now. */
  private int running;
  /** Announced writes that have not completed; counted where {@link #countsWrites()}. */
  private final AtomicInteger inFlight = new AtomicInteger();
  /** The next flush, not started: a caller that finds no free slot joins it. Null if none. */
  private Pending pending;

  /** A flush that callers joined before it started; its outcome is theirs. */
  private static final class Pending {
    final Condition done;
    /** Its callers so far, its opener included. */
    int callers = 1;
    /** It starts once fewer flushes than this run: the least that one of its callers may start at. */
    int startBelow;
    boolean finished;
    IOException failure;

    Pending(Condition done, int startBelow) {
      this.done = done;
      this.startBelow = startBelow;
    }
  }

  /** Shares flushes of {@code device}, at most {@code maxRunning} (at least 1) at a time, neighbours or not. */
  GroupFlush(BlockDevice device, int maxRunning) {
    this(device, maxRunning, maxRunning);
  }

  /**
   * Shares flushes of {@code device}, at most {@code maxRunning} (at least 1) at a time, and at most {@code
   * maxNeighbours} (1 to maxRunning) started by writes next to waiting ones.
   */
  GroupFlush(BlockDevice device, int maxRunning, int maxNeighbours) {
    if (maxRunning < 1 || maxNeighbours < 1 || maxNeighbours > maxRunning) {
      throw new IllegalArgumentException("maxRunning: " + maxRunning + ", maxNeighbours: " + maxNeighbours
          + " (expected: 1 <= maxNeighbours <= maxRunning)");
    }
    this.device = device;
    this.maxRunning = maxRunning;
    this.maxNeighbours = maxNeighbours;
    this.waiting = maxNeighbours < maxRunning ? new WaitingWrites() : null;
  }

  /**
   * Announces a write to the device that is about to start; {@link #writeCompleted} must follow it. A flush that may
   * start only alone waits for the announced writes in flight, so that it covers them too: their writers would
   * otherwise need the next flush, which cannot start before this one ends, and at depth 16 the writers would split
   * into two cohorts that alternate, half of them per flush. Waiting for them costs at most the time of the writes in
   * flight; it never waits for a write that has not started, nor while one writer alone writes. An atomic count, not
   * a lock round, so that scattered writers do not take the lock twice per write. With several slots and no
   * neighbours told apart nothing waits for writes and nothing is counted.
   */
  void writeStarted() {
    if (countsWrites()) {
      inFlight.incrementAndGet();
    }
  }

  /**
   * Ends a write of {@code [offset, offset + length)} announced by {@link #writeStarted()} and, if it succeeded,
   * returns as {@link #flush()} does: once a flush that started after the write completed has completed
   * successfully.
   *
   * @param succeeded whether the write succeeded; a failed one is not flushed
   * @throws IOException the error of that flush
   */
  void writeCompleted(long offset, long length, boolean succeeded) throws IOException {
    boolean lastInFlight = countsWrites() && inFlight.decrementAndGet() == 0;
    int startBelow = maxRunning;
    int slot = -1;
    if (succeeded && waiting != null) {
      // Its own monitor, not the lock: the lock's hold stays as short as without neighbours (16 scattered writers
      // contend for it). Which writes are neighbours only steers when flushes start, never what one covers.
      synchronized (waiting) {
        startBelow = waiting.touches(offset, length) ? maxNeighbours : maxRunning;
        slot = waiting.add(offset, length);
      }
    }
    lock.lock();
    try {
      if (lastInFlight && pending != null) {
        slotFree.signal(); // the pending flush waited for this write; it checks the count under the lock
      }
      if (succeeded) {
        awaitFlush(startBelow);
      }
    } finally {
      lock.unlock();
      if (slot >= 0) {
        synchronized (waiting) {
          waiting.remove(slot);
        }
      }
    }
  }

  /**
   * Returns once a flush of the device that started after this call has completed successfully.
   *
   * @throws IOException the error of that flush (the one this call waited for)
   */
  void flush() throws IOException {
    lock.lock();
    try {
      awaitFlush(maxRunning);
    } finally {
      lock.unlock();
    }
  }

  /**
   * {@link #flush()}, with the lock held, for a caller that may start a flush while fewer than {@code startBelow} run.
   */
  private void awaitFlush(int startBelow) throws IOException {
    if (pending == null && mayStart(startBelow)) {
      runFlush(); // nobody can join it: it is not pending
      return;
    }
    Pending mine = pending;
    if (mine == null) {
      mine = pending = new Pending(lock.newCondition(), startBelow);
      while (!mayStart(mine.startBelow)) {
        slotFree.awaitUninterruptibly();
      }
      pending = null; // started: a caller from now on needs a later flush
      try {
        runFlush();
      } catch (IOException e) {
        mine.failure = e;
      } catch (RuntimeException | Error e) {
        mine.failure = new IOException("flush failed", e); // its waiters must not take it for a success
        throw e;
      } finally {
        mine.finished = true;
        mine.done.signalAll();
      }
    } else {
      mine.callers++;
      mine.startBelow = Math.min(mine.startBelow, startBelow);
      while (!mine.finished) {
        mine.done.awaitUninterruptibly();
      }
    }
    if (mine.failure != null) {
      throw mine.failure;
    }
  }

  /** Whether writes are announced: where a flush may start only alone (one slot), or neighbours are told apart. */
  private boolean countsWrites() {
    return maxRunning == 1 || waiting != null;
  }

  /**
   * Whether a flush may start now: fewer than {@code startBelow} run, and for one that may start only alone, no
   * announced write is in flight.
   */
  private boolean mayStart(int startBelow) {
    return running < startBelow && (startBelow > 1 || inFlight.get() == 0);
  }

  /** The callers waiting for the pending flush, the one not started yet (0 if none): what a test waits for. */
  int pendingCallers() {
    lock.lock();
    try {
      return pending == null ? 0 : pending.callers;
    } finally {
      lock.unlock();
    }
  }

  /** Flushes the device in a slot, without the lock while it runs; called and returns with the lock held. */
  private void runFlush() throws IOException {
    running++;
    lock.unlock();
    try {
      device.flush();
    } finally {
      lock.lock();
      running--;
      if (pending != null) {
        slotFree.signal(); // only the pending flush's opener waits, for a slot (and the writes in flight)
      }
    }
  }
}
