package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * L2 tables in memory, keyed by their host offset, bounded in bytes like QEMU's {@code l2-cache-size}.
 *
 * <p>A hit is a {@link ConcurrentHashMap#get} and a plain write of a reference bit: no lock. A miss reads the
 * table outside any lock (two threads missing the same table may both read it; one copy wins) and, when the
 * cache is over its bound, evicts by CLOCK: a hand walks the map, clearing reference bits and dropping the
 * first table that was not used since the hand last passed. Only eviction, and adding what a miss read, take a
 * lock. A miss whose read overlapped a write-back reads again: it may have read a table before the write-back
 * stored a newer copy, which may have been evicted since, and caching the older copy would lose entries.
 *
 * <p>In a writable image, tables change in place under the image's metadata lock ({@link #set}, which readers see
 * through {@link #word}) and are marked dirty; dirty tables are never evicted, only written back ({@link
 * #writeDirty}) by the image's flush, which the writer calls when too many are dirty. A writer takes the table it
 * changes with {@link #writable}, which marks it dirty first, never with {@link #get}: a clean table can be evicted
 * by any reader's miss, and a change to an evicted copy would be lost. A reader may go on using a copy evicted
 * meanwhile: it was clean, so it reads as the entries were before any change made since, as if the read came first
 * (the host clusters it names stay unreusable while the request is in flight, {@link Qcow2Writer}).
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

  private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);

  private final Map<Long, Slot> tables = new ConcurrentHashMap<>();
  private final Set<Long> dirty = ConcurrentHashMap.newKeySet();
  private final int capacity;
  private final Loader loader;
  private final Object evictLock = new Object();
  /** Tables written back so far; see the class comment. */
  private final AtomicLong writeBacks = new AtomicLong();
  private Iterator<Map.Entry<Long, Slot>> hand;

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

  /** Word {@code index} of a table from {@link #get}: safe to call while a writer changes the table. */
  static long word(long[] table, int index) {
    return (long) WORD.getAcquire(table, index);
  }

  /**
   * The cached table at {@code offset} (loaded on a miss), marked dirty first, so that it stays cached until a
   * write-back stored it: the copy to change with {@link #set}. Under the metadata lock. A table taken with {@link
   * #get} may be evicted by a reader's miss (which takes no metadata lock) before the caller changes it, and a change
   * to an evicted copy is lost: a reload caches the older copy from disk, and a write-back finds nothing cached.
   */
  long[] writable(long offset) throws IOException {
    synchronized (evictLock) {
      // Under the eviction lock: an eviction that found the table clean cannot remove it after this.
      dirty.add(offset);
    }
    return get(offset);
  }

  /**
   * Sets word {@code index} of {@code table}, the cached table at {@code offset} as {@link #writable} returned it;
   * under the metadata lock.
   */
  void set(long offset, long[] table, int index, long value) {
    dirty.add(offset);
    WORD.setRelease(table, index, value);
  }

  /**
   * {@link #set} of {@code values.length} words in a row from {@code index}: the table is marked dirty once, not once
   * per word (a convert's 2 MiB chunk sets a run of 32 entries). Under the metadata lock.
   */
  void set(long offset, long[] table, int index, long[] values) {
    dirty.add(offset);
    for (int k = 0; k < values.length; k++) {
      WORD.setRelease(table, index + k, values[k]);
    }
  }

  /** Adds a new table (all unallocated, or a copy) at {@code offset}, dirty; under the metadata lock. */
  void add(long offset, long[] table) {
    dirty.add(offset);
    tables.put(offset, new Slot(table));
  }

  /** Forgets the table at {@code offset}, dirty or not: its cluster is being freed. Under the metadata lock. */
  void drop(long offset) {
    dirty.remove(offset);
    tables.remove(offset);
  }

  /** Tables waiting to be written. */
  int dirtyCount() {
    return dirty.size();
  }

  /**
   * Writes every dirty table whole to {@code file} and returns whether there were any; under the metadata lock.
   * The caller flushes the file next.
   */
  boolean writeDirty(BlockDevice file) throws IOException {
    if (dirty.isEmpty()) {
      return false;
    }
    for (long offset : dirty.stream().sorted().toList()) {
      long[] table = tables.get(offset).table;
      ByteBuffer b = ByteBuffer.allocate(table.length * 8);
      // One bulk copy (big-endian, as the file holds the words), not a loop of word reads: a write-back runs too rarely
      // for the JIT to compile such a loop, which interpreted cost about half a millisecond per 64 KiB table (the close
      // of a fresh 4 GiB image after 2 GiB of writes, eight tables, cold JVM: 8-9 -> 4-5 ms). Plain reads are safe:
      // every change is made under the metadata lock, held here.
      b.asLongBuffer().put(table);
      file.write(offset, b, Set.of());
      // Before the table can be evicted: a miss that read it earlier must see that it may be stale.
      writeBacks.incrementAndGet();
      dirty.remove(offset);
    }
    if (tables.size() > capacity) {
      evict(-1);
    }
    return true;
  }

  /**
   * The table at host offset {@code offset}, loaded on a miss. The array is shared: only {@link #set} changes it, on
   * the copy {@link #writable} returned (a clean table from here may be evicted at any time and is then never changed).
   */
  long[] get(long offset) throws IOException {
    Slot slot = tables.get(offset);
    if (slot != null) {
      if (!slot.referenced) {
        slot.referenced = true;
      }
      return slot.table;
    }
    Slot loaded;
    while (true) {
      long seen = writeBacks.get();
      loaded = new Slot(loader.load(offset));
      synchronized (evictLock) {
        Slot raced = tables.get(offset);
        if (raced != null) {
          return raced.table;
        }
        if (writeBacks.get() == seen) {
          // No write-back since the read: a cached copy changed meanwhile would still be dirty, so still cached.
          tables.put(offset, loaded);
          break;
        }
      }
    }
    if (tables.size() > capacity) {
      // Never the table just loaded: the caller may be about to change it (a change to an evicted copy would be lost).
      evict(offset);
    }
    return loaded.table;
  }

  /** Drops clean tables, not {@code keep}, until the cache is within its bound (or every table is dirty or kept). */
  private void evict(long keep) {
    synchronized (evictLock) {
      // Two sweeps clear every reference bit, so the loop ends even if every table is hot.
      int budget = 2 * tables.size() + 2;
      while (tables.size() > capacity && budget-- > 0) {
        if (hand == null || !hand.hasNext()) {
          hand = tables.entrySet().iterator();
          if (!hand.hasNext()) {
            return;
          }
        }
        Map.Entry<Long, Slot> next = hand.next();
        Slot s = next.getValue();
        if (dirty.contains(next.getKey()) || next.getKey() == keep) {
          continue;
        }
        if (s.referenced && budget > tables.size()) {
          s.referenced = false;
        } else {
          hand.remove();
        }
      }
    }
  }
}
