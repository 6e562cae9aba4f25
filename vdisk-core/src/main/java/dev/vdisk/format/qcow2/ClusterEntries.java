package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Support;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.locks.Lock;

/**
 * The L2 entries of a writable image as the writer's concerns read and change them ({@link Qcow2Writer}): an entry's
 * words, a table made writable (new, or copied from a snapshot's), an entry set and what it held released; and the
 * virtual size they all bound their requests by. Not thread-safe: every change is made under the writer's metadata
 * lock, and lock-free readers see entries through {@link L2Cache#word}.
 */
final class ClusterEntries {
  private final BlockDevice file;
  private final BlockDevice data;
  private final boolean dataFile;
  private final Geometry geometry;
  private final L1Table l1;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  private final Lock exclusive;
  private volatile long size;

  /**
   * @param data where guest clusters live: {@code file}, or the external data file (no refcounts there)
   * @param exclusive the exclusive side of the lock that readers hold shared while they map ({@link Qcow2Writer})
   */
  ClusterEntries(BlockDevice file, BlockDevice data, Geometry geometry, L1Table l1, L2Cache l2, RefcountStore refcounts,
      long size, Lock exclusive) {
    this.file = file;
    this.data = data;
    this.dataFile = EncryptingDevice.external(file, data);
    this.geometry = geometry;
    this.l1 = l1;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.size = size;
    this.exclusive = exclusive;
  }

  /** The virtual size. */
  long size() {
    return size;
  }

  /** Sets the virtual size (a resize, under the metadata lock). */
  void size(long newSize) {
    size = newSize;
  }

  /** The bitmap word of the entry for {@code guest} in {@code table} (0 without extended L2). */
  long bitmap(long[] table, long guest) {
    return geometry.extendedL2() ? L2Cache.word(table, geometry.entryIndex(guest) + 1) : 0;
  }

  long entryBitmap(long guest) throws IOException {
    long l2Offset = l1.l2Offset(geometry.l1Index(guest));
    return l2Offset == 0 || !geometry.extendedL2() ? 0 : L2Cache.word(l2.get(l2Offset), geometry.entryIndex(guest) + 1);
  }

  /** The L2 entry word of the cluster at {@code guest} (0 where no L2 table exists). */
  long entryWord(long guest) throws IOException {
    long l2Offset = l1.l2Offset(geometry.l1Index(guest));
    return l2Offset == 0 ? 0 : L2Cache.word(l2.get(l2Offset), geometry.entryIndex(guest));
  }

  /**
   * Points the cluster at {@code guest} at {@code word} (and {@code bitmap} with extended L2 entries) and releases
   * what the old entry held. Under the metadata lock.
   */
  void setEntry(long guest, long word, long bitmap) throws IOException {
    setEntries(guest, geometry.extendedL2() ? new long[] {word, bitmap} : new long[] {word});
  }

  /**
   * {@link #setEntry} for a run of clusters from {@code guest} on, all in one L2 table: {@code words} holds their entries
   * as the table does ({@link Geometry#wordsPerEntry} words each: the entry's word, then its bitmap with extended L2
   * entries). The table is made writable and looked up once for the run, not once per cluster (a convert's 2 MiB chunk
   * is a run of 32 clusters). Under the metadata lock.
   */
  void setEntries(long guest, long[] words) throws IOException {
    long tableOffset = writableTable(geometry.l1Index(guest));
    // Not get: readers' misses evict clean tables without the metadata lock, and the change must reach the cached copy.
    long[] table = l2.writable(tableOffset);
    int first = geometry.entryIndex(guest);
    int step = geometry.wordsPerEntry();
    long[] old = new long[words.length / step];
    for (int k = 0; k < old.length; k++) {
      old[k] = L2Cache.word(table, first + k * step);
    }
    if (geometry.extendedL2()) {
      // Both words of each entry at once for the readers outside the metadata lock (ClusterMapper,
      // AllocatingWriter.ownedHost), which take the table's monitor to read them: no reader sees one entry's word with
      // another's bitmap.
      synchronized (table) {
        l2.set(tableOffset, table, first, words);
      }
    } else {
      l2.set(tableOffset, table, first, words);
    }
    for (int k = 0; k < old.length; k++) {
      release(old[k], words[k * step]);
    }
  }

  /**
   * Releases the storage {@code old} held, unless {@code word} keeps it: a free recorded for the next flush, or with
   * an external data file (whose clusters have no refcounts) a discard of the cluster there, as QEMU does.
   */
  void release(long old, long word) throws IOException {
    L2Kind kind = kind(old);
    if (dataFile) {
      if (kind.ownsCluster() && !kind(word).ownsCluster() && data.capabilities().discard() != Support.NONE) {
        long host = old & Geometry.OFFSET_MASK;
        long n = Math.min(geometry.clusterSize(), data.size() - host);
        if (n > 0) {
          data.discard(host, n);
        }
      }
      return;
    }
    if (kind == L2Kind.COMPRESSED) {
      long host = old & ((1L << geometry.compressedSizeShift()) - 1);
      long sectors = ((old >>> geometry.compressedSizeShift()) & ((1L << (geometry.clusterBits() - 8)) - 1)) + 1;
      long from = host & ~511L;
      long to = from + sectors * 512;
      long firstCluster = from & ~geometry.clusterMask();
      refcounts.free(firstCluster, (int) ((to - 1 - firstCluster) >>> geometry.clusterBits()) + 1);
      return;
    }
    long host = old & Geometry.OFFSET_MASK;
    if (host != 0 && host != (word & Geometry.OFFSET_MASK)) {
      refcounts.free(host, 1);
    }
  }

  /**
   * Undoes {@link #writableTable}'s new empty table at {@code tableOffset} for {@code l1Index} after the first write
   * into it failed (no entry changed, nothing on disk points at it): the L1 entry is 0 again and the cluster given
   * back once no request maps through the old L1 entry. Under the metadata lock, without the shared lock.
   */
  void dropNewTable(long l1Index, long tableOffset) throws IOException {
    l1.set((int) l1Index, 0);
    l2.drop(tableOffset);
    // A reader outside the metadata lock may have read the L1 entry and be about to load the table from its cluster
    // (a miss: it left the cache just now), which must not hold another write's data by then. Readers map under the
    // shared lock: once no one holds it, none still has the old L1 entry, and the cluster can be given back at once
    // (so a full disk leaks nothing). An error path only: it waits for the requests in flight.
    exclusive.lock();
    try {
      refcounts.unallocate(tableOffset, 1);
    } finally {
      exclusive.unlock();
    }
  }

  /**
   * The offset of the L2 table for {@code l1Index}, made writable: a new empty table where there is none, a copy
   * where a snapshot shares it (L1 entry without COPIED). A new table's cluster is written at once (zeroes, its
   * contents follow at the flush), as QEMU writes a new table: its disk space is taken now, so a full disk fails
   * this request, which changed nothing yet, rather than every later flush. Under the metadata lock.
   */
  long writableTable(long l1Index) throws IOException {
    long entry = l1.entry(l1Index);
    long offset = entry & Geometry.OFFSET_MASK;
    if (offset != 0 && (entry & Geometry.COPIED) != 0) {
      return offset;
    }
    int words = (1 << geometry.l2Bits()) * geometry.wordsPerEntry();
    long[] table = offset == 0 ? new long[words] : l2.get(offset).clone();
    long fresh = refcounts.allocate(1);
    try {
      file.write(fresh, ByteBuffer.allocate(geometry.clusterSize()), Set.of());
    } catch (IOException e) {
      refcounts.unallocate(fresh, 1);
      throw e;
    }
    l2.add(fresh, table);
    l1.set((int) l1Index, fresh | Geometry.COPIED);
    if (offset != 0) {
      refcounts.free(offset, 1);
    }
    return fresh;
  }

  /** QEMU's {@code cluster_needs_new_alloc}: the image does not own a (possibly zero) cluster there alone. */
  boolean needsNewAlloc(long word) {
    return !kind(word).ownsCluster() || (word & Geometry.COPIED) == 0;
  }

  L2Kind kind(long word) {
    return L2Kind.of(word, geometry.extendedL2(), dataFile);
  }
}
