package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * L2 tables in memory, keyed by their host offset, bounded in bytes like QEMU's {@code l2-cache-size}.
 *
 * <p>A hit is a {@link ConcurrentHashMap#get} and a plain write of a reference bit: no lock. A miss reads the
 * table outside any lock (two threads missing the same table may both read it; one copy wins) and, when the
 * cache is over its bound, evicts by CLOCK: a hand walks the map, clearing reference bits and dropping the
 * first table that was not used since the hand last passed. Only eviction takes a lock.
 */
final class L2Cache {
  /** Reads one L2 table: {@code entries * words} big-endian 64-bit words. */
  @FunctionalInterface
  interface Loader {
    long[] load(long offset) throws IOException;
  }

  /** QEMU's minimum: two tables, so a request crossing an L2 boundary never evicts its own first table. */
  static final int MIN_TABLES = 2;

  private static final class Slot {
    final long[] table;
    volatile boolean referenced = true;

    Slot(long[] table) {
      this.table = table;
    }
  }

  private final Map<Long, Slot> tables = new ConcurrentHashMap<>();
  private final int capacity;
  private final Loader loader;
  private final Object evictLock = new Object();
  private Iterator<Slot> hand;

  /** A cache of at most {@code maxBytes / tableBytes} tables (at least {@link #MIN_TABLES}). */
  L2Cache(long maxBytes, int tableBytes, Loader loader) {
    this.capacity = (int) Math.clamp(maxBytes / tableBytes, MIN_TABLES, Integer.MAX_VALUE);
    this.loader = loader;
  }

  int capacity() {
    return capacity;
  }

  /** Tables held now. */
  int size() {
    return tables.size();
  }

  /** The table at host offset {@code offset}, loaded on a miss. The array is shared: callers must not modify it. */
  long[] get(long offset) throws IOException {
    Slot slot = tables.get(offset);
    if (slot != null) {
      if (!slot.referenced) {
        slot.referenced = true;
      }
      return slot.table;
    }
    Slot loaded = new Slot(loader.load(offset));
    Slot raced = tables.putIfAbsent(offset, loaded);
    if (raced != null) {
      return raced.table;
    }
    if (tables.size() > capacity) {
      evict();
    }
    return loaded.table;
  }

  private void evict() {
    synchronized (evictLock) {
      // Two sweeps clear every reference bit, so the loop ends even if every table is hot.
      int budget = 2 * tables.size() + 2;
      while (tables.size() > capacity && budget-- > 0) {
        if (hand == null || !hand.hasNext()) {
          hand = tables.values().iterator();
          if (!hand.hasNext()) {
            return;
          }
        }
        Slot s = hand.next();
        if (s.referenced && budget > tables.size()) {
          s.referenced = false;
        } else {
          hand.remove();
        }
      }
    }
  }
}
