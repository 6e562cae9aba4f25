package dev.vdisk.io.rbd;

import dev.vdisk.block.Extent;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns {@code rbd_diff_iterate2}'s runs of existing objects into {@link Extent}s over {@code [start, end)}: ranges
 * that exist are data, the gaps between them zero (an RBD object that does not exist reads as zeroes), as QEMU's
 * {@code qemu_rbd_co_block_status} reports them. Runs may begin before {@code start} (the iteration starts at an
 * object boundary) and are clipped. At most {@link #MAX_EXTENTS} extents are kept (memory stays bounded on huge
 * fragmented images): the iteration is then stopped and the list ends early, which the BlockDevice contract allows.
 */
final class RbdDiffCollector {
  static final int MAX_EXTENTS = 4096;

  private final long start;
  private final long end;
  private final List<Extent> extents = new ArrayList<>();
  /** Where the next extent starts: everything before is described. */
  private long covered;

  RbdDiffCollector(long start, long end) {
    this.start = start;
    this.end = end;
    this.covered = start;
  }

  /** One run from librbd; returns 0 to go on or {@link RbdCallbacks#STOP}. */
  synchronized int accept(long offset, long length, boolean exists) {
    if (!exists) {
      return 0;
    }
    long from = Math.max(offset, covered);
    long to = Math.min(offset + length, end);
    if (to <= from) {
      return to >= end ? RbdCallbacks.STOP : 0;
    }
    if (from > covered) {
      add(Extent.zero(covered, from - covered, covered));
    }
    add(Extent.data(from, to - from, from));
    covered = to;
    return covered >= end || extents.size() >= MAX_EXTENTS - 1 ? RbdCallbacks.STOP : 0;
  }

  private void add(Extent e) {
    int last = extents.size() - 1;
    if (last >= 0 && extents.get(last).mergeableWith(e)) {
      extents.set(last, extents.get(last).merge(e));
    } else {
      extents.add(e);
    }
  }

  /** The extents from {@code start}, ending at {@code end} unless the iteration was stopped early. */
  synchronized List<Extent> extents(boolean stoppedEarly) {
    if (!stoppedEarly && covered < end) {
      add(Extent.zero(covered, end - covered, covered));
    }
    return List.copyOf(extents);
  }
}
