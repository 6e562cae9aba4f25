package dev.vdisk.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes into one file made one at a time by whichever caller holds the turn (flat combining), instead of each on
 * its own thread at once. A caller queues its write; if no one holds the turn, it takes it and makes the queued
 * writes, oldest first, its own among them; otherwise it waits until its write has been made for it, or until the
 * turn is handed to it. Each caller gets its own write's result (the exception its write threw, or none), and no
 * call returns before its write has been made, as if the caller had made it itself. Thread-safe; virtual threads
 * may call it.
 *
 * <p>Why ({@link BufferedPath} uses it for large writes into a regular file through the page cache): Linux makes
 * buffered writes into one regular file one at a time anyway (ext4, XFS, btrfs, tmpfs and NFS hold the inode's lock
 * exclusively for the whole copy), so of several threads writing at once all but one wait in the kernel, and a
 * waiter spins on that lock while its owner copies (the kernel's rwsem optimistic spinning): CPU that on a 2-core
 * host the kernel's writeback and the JIT then go without. QEMU's {@code aio=io_uring} avoids it through the kernel's
 * own queue: its buffered writes into a file all go to one io-wq worker, one after another. Here the writes go one
 * after another on the caller holding the turn: no spinning waiter, and no wake-up between two writes.
 *
 * <p>A turn ends when the queue is empty, or once the holder's own write is made and {@value #TURN} writes in all:
 * the caller holding the turn returns after at most that many writes, or those queued before its own and its own;
 * the oldest waiter then takes the turn. It also ends when another caller takes it while the holder wakes a caller
 * whose write it made: the turn is free over each such wake-up. The woken caller has slept, so the scheduler often
 * runs it at once on the holder's CPU, before the holder (Linux's EEVDF and CFS favour a thread that slept), the more
 * so while the other CPUs are busy (the JIT compiling early in a run, on 2 cores); a turn held over the wake-up then
 * stalls every queued write until the holder runs again (in a 1 MiB page-cache write bench at depth 4, 77-195 such
 * preemptions in the first 1,000 writes, 0.5-1.2 ms each). With the turn free, the woken caller's next write, or any
 * caller's, takes it and goes on with the queue.
 */
final class SerialWrites {
  /** Writes after which a turn ends once the holder's own is made: one hand-over (a wake-up) per that many at least. */
  static final int TURN = 8;

  /** The write itself: all of {@code src} at {@code offset}. */
  @FunctionalInterface
  interface Write {
    void write(long offset, ByteBuffer src) throws IOException;
  }

  private final Write target;
  /** Runs where the holder wakes a caller whose write it made, without the lock and the turn (see the class). */
  private final Runnable waking;
  private final ReentrantLock lock = new ReentrantLock();
  /** Writes not yet started, oldest first; guarded by lock. */
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  /** Whether a caller holds the turn; guarded by lock. */
  private boolean taken;

  SerialWrites(Write target) {
    this(target, () -> { });
  }

  /**
   * @param waking run on the holder's thread each time it wakes a caller whose write it made, with the lock released and
   *     the turn free: where the scheduler may preempt the holder (a test stands in for that with a pause)
   */
  SerialWrites(Write target, Runnable waking) {
    this.target = target;
    this.waking = waking;
  }

  /** One queued write and, once made, its outcome; guarded by lock. */
  private final class Pending {
    final long offset;
    final ByteBuffer src;
    /** Signalled when the write is made, or when the turn is free for its caller to take. */
    final Condition wake = lock.newCondition();
    boolean made;
    Throwable failure;

    Pending(long offset, ByteBuffer src) {
      this.offset = offset;
      this.src = src;
    }
  }

  /** Writes all of {@code src} at {@code offset}, by the target, on this thread or on the one holding the turn. */
  void write(long offset, ByteBuffer src) throws IOException {
    Pending mine = new Pending(offset, src);
    lock.lock();
    try {
      queue.add(mine);
      while (!mine.made) {
        if (taken) {
          mine.wake.awaitUninterruptibly(); // as the write itself: a write in the kernel does not stop for an interrupt
        } else {
          takeTurn(mine);
        }
      }
    } finally {
      lock.unlock();
    }
    switch (mine.failure) {
      case null -> { }
      case IOException e -> throw e;
      case RuntimeException e -> throw e;
      case Error e -> throw e;
      default -> throw new IOException(mine.failure);
    }
  }

  /**
   * Makes queued writes, oldest first, until the queue is empty, another caller takes the turn while this one wakes a
   * caller whose write it made, or {@code mine} is made and {@value #TURN} in all; then, if the turn is still free and
   * writes are queued, wakes the oldest waiter to take it. Called with the lock held and the turn free; releases the
   * lock around each write and each wake-up.
   */
  private void takeTurn(Pending mine) {
    for (int writes = 0; !queue.isEmpty() && (writes < TURN || !mine.made); writes++) {
      taken = true;
      Pending next = queue.poll();
      lock.unlock();
      try {
        target.write(next.offset, next.src);
      } catch (Throwable t) { // any outcome belongs to the write's own caller, who would otherwise wait forever
        next.failure = t;
      } finally {
        lock.lock();
      }
      next.made = true;
      taken = false;
      if (next != mine) {
        next.wake.signal(); // its thread is unparked as the lock is released, next
        lock.unlock();
        try {
          waking.run();
        } finally {
          lock.lock();
        }
        if (taken) {
          return; // the woken caller, or another, holds the turn now and goes on with the queue
        }
      }
    }
    Pending oldest = queue.peek();
    if (oldest != null) {
      oldest.wake.signal();
    }
  }
}
