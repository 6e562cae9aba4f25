package dev.vdisk.format.qcow2;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The writes whose data is being written outside the metadata lock while the L2 entries that will expose it wait
 * (QEMU's list of in-flight {@code QCowL2Meta}): each holds a range of whole guest clusters from its plan to its
 * publication. Whatever would read or change those clusters' entries meanwhile (another allocating write, a write's
 * copy-on-write, zeroes, a discard) waits for that allocation only, as QEMU's {@code handle_dependencies} waits on
 * the one it overlaps; operations on the whole image (resize, close) wait for all.
 *
 * <p>Ranges held at one time never overlap: one is added only where {@link #awaitNone} found none. Every method runs
 * under the writer's metadata lock, whose conditions the waits use.
 */
final class InFlightAllocations {
  /** A range of guest clusters held from a write's plan to its publication. */
  static final class Allocation {
    private final long start;
    private final long end;
    private final Condition done;

    private Allocation(long start, long end, Condition done) {
      this.start = start;
      this.end = end;
      this.done = done;
    }
  }

  private final ReentrantLock lock;
  private final TreeMap<Long, Allocation> byStart = new TreeMap<>();

  /** @param lock the metadata lock, held by every caller */
  InFlightAllocations(ReentrantLock lock) {
    this.lock = lock;
  }

  /** Holds guest bytes {@code [start, end)} (whole clusters) where {@link #awaitNone} just found nothing held. */
  Allocation add(long start, long end) {
    if (overlapping(start, end) != null) {
      throw new IllegalStateException("in-flight allocations overlap at guest offset " + start);
    }
    Allocation a = new Allocation(start, end, lock.newCondition());
    byStart.put(start, a);
    return a;
  }

  /** Releases {@code a} and wakes whoever waits for it. */
  void remove(Allocation a) {
    byStart.remove(a.start);
    a.done.signalAll();
  }

  /** True if some allocation holds a cluster of {@code [from, to)}. */
  boolean anyIn(long from, long to) {
    return overlapping(from, to) != null;
  }

  /**
   * Returns once no allocation holds a cluster of {@code [from, to)}, waiting (the metadata lock released meanwhile)
   * for each one that does. The caller holds the lock once, not reentrantly, and has changed nothing yet that a
   * waiting allocation could see half done.
   */
  void awaitNone(long from, long to) {
    checkHeldOnce();
    for (Allocation a = overlapping(from, to); a != null; a = overlapping(from, to)) {
      a.done.awaitUninterruptibly();
    }
  }

  /** Returns once no allocation is in flight: for resizes and the close, which work on the whole image. */
  void awaitAll() {
    checkHeldOnce();
    while (!byStart.isEmpty()) {
      byStart.firstEntry().getValue().done.awaitUninterruptibly();
    }
  }

  /** The held range that overlaps {@code [from, to)}, or null: the last one starting before {@code to}, if any. */
  private Allocation overlapping(long from, long to) {
    Map.Entry<Long, Allocation> e = byStart.lowerEntry(to);
    return e != null && e.getValue().end > from ? e.getValue() : null;
  }

  private void checkHeldOnce() {
    if (lock.getHoldCount() != 1) {
      // A wait releases the lock entirely: an outer holder would find the metadata changed under it.
      throw new IllegalStateException("waiting for in-flight allocations with the metadata lock held "
          + lock.getHoldCount() + " times (expected: once)");
    }
  }
}
