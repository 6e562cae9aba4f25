package dev.vdisk.block.filter;

import java.util.Arrays;

/**
 * The page runs of the writes that completed and wait for a flush, so that {@link GroupFlush} can tell a write next
 * to them from a scattered one. A few slots (about the depth of the writers), found by a scan: no allocation per
 * write. Not thread-safe: GroupFlush synchronizes on it.
 */
final class WaitingWrites {
  /** Host pages, as the page cache writes them back: two writes within one, or in touching ones, are neighbours. */
  static final int PAGE = 4096;

  /** Per slot: the first page and the page after the last; {@code end[i] == FREE} marks a free slot. */
  private long[] first = new long[16];
  private long[] end = new long[16];
  private int used;
  private static final long FREE = -1;

  WaitingWrites() {
    Arrays.fill(end, FREE);
  }

  /** Whether {@code [offset, offset + length)} lies in or touches the pages of a write here. */
  boolean touches(long offset, long length) {
    long f = offset / PAGE;
    long e = endPage(offset, length);
    int seen = 0;
    for (int i = 0; seen < used; i++) {
      if (end[i] != FREE) {
        seen++;
        if (f <= end[i] && first[i] <= e) {
          return true;
        }
      }
    }
    return false;
  }

  /** Adds a write; returns its slot, for {@link #remove}. */
  int add(long offset, long length) {
    int slot = 0;
    while (slot < end.length && end[slot] != FREE) {
      slot++;
    }
    if (slot == end.length) {
      first = Arrays.copyOf(first, slot * 2);
      end = Arrays.copyOf(end, slot * 2);
      Arrays.fill(end, slot, slot * 2, FREE);
    }
    first[slot] = offset / PAGE;
    end[slot] = endPage(offset, length);
    used++;
    return slot;
  }

  /** Removes the write added at {@code slot}: it failed, or its flush ended. */
  void remove(int slot) {
    end[slot] = FREE;
    used--;
  }

  private static long endPage(long offset, long length) {
    return Math.max(offset / PAGE + 1, (offset + length + PAGE - 1) / PAGE);
  }
}
