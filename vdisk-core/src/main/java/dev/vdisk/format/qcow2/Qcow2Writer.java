package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The write side of a qcow2 image: overwrites in place, allocating writes with copy-on-write of the untouched
 * part of each new cluster (in the same host write), zero clusters, discard, and the ordered flush that keeps the
 * image consistent on disk at every instant.
 *
 * <p><b>Ordering</b> ({@link #flushMetadata}): refcount blocks, then the refcount table (then the header if the
 * table moved), then L2 tables, then L1 entries, each step followed by a flush of the file, so that whatever
 * subset of unflushed writes a power loss keeps, every entry on disk points at a cluster whose refcount and
 * contents are already durable. Data of new clusters is written before their L2 entries change in memory, so the
 * first flush covers it. Released clusters are counted down only after the entries that pointed at them are
 * durable. A crash therefore leaves leaked clusters at worst.
 *
 * <p><b>Lazy refcounts</b> ({@code lazy_refcounts=on}): the first flush with metadata to write sets the dirty bit
 * ({@link DirtyBit}) durably, and from then on a flush writes only the L2 tables and L1 entries (after a flush
 * that makes the new clusters' data durable); refcount blocks, the refcount table and frees stay in memory until
 * the close, which writes them in the usual order and then clears the bit. A crash in between leaves refcounts
 * that may be too low, which the dirty bit tells the next writer to rebuild, as QEMU does. The cost is memory:
 * the dirty refcount blocks are held until the close (one block per {@code cluster_size * 8 / refcount_bits}
 * clusters the session allocated in).
 *
 * <p><b>Concurrency:</b> overwrites of clusters the image owns alone (L2 entry with the COPIED flag) run
 * concurrently without the metadata lock; everything that changes metadata holds it. Reads and overwrites hold
 * {@link #inUse}'s shared side, which releasing clusters takes exclusively, so a cluster is never reused while a
 * request still works on it.
 *
 * <p>Images whose data lives in an external data file are not written yet (refused at open). Extended L2 entries
 * are written a whole cluster at a time: a new cluster has every subcluster allocated.
 */
final class Qcow2Writer {
  /** Metadata flushes start when this share of the L2 cache's tables are dirty. */
  private static final int DIRTY_SHARE = 2;

  private final BlockDevice file;
  private final Geometry geometry;
  private final L1Table l1;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  private final boolean zeroClusters;
  private final boolean hasBacking;
  private final GuestReader current;
  /** The dirty bit of an image with lazy refcounts; null without them. */
  private final DirtyBit lazy;
  private final ReentrantLock meta = new ReentrantLock();
  private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();

  /** Reads guest bytes as the image defines them now. */
  @FunctionalInterface
  interface GuestReader {
    void read(long offset, ByteBuffer dst) throws IOException;
  }

  /**
   * @param version 2 or 3: version 2 has no zero clusters
   * @param current reads the image's guest bytes (for copy-on-write), without taking {@link #shared()}
   * @param lazy the dirty bit of an image with lazy refcounts, null without them
   */
  Qcow2Writer(BlockDevice file, Geometry geometry, L1Table l1, L2Cache l2, RefcountStore refcounts, int version,
      boolean hasBacking, GuestReader current, DirtyBit lazy) {
    this.lazy = lazy;
    this.file = file;
    this.geometry = geometry;
    this.l1 = l1;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.zeroClusters = version >= 3;
    this.hasBacking = hasBacking;
    this.current = current;
  }

  /** The lock every read and overwrite holds, so clusters are not released under it. */
  Lock shared() {
    return inUse.readLock();
  }

  boolean zeroClusters() {
    return zeroClusters;
  }

  void write(long offset, ByteBuffer src) throws IOException {
    Lock s = shared();
    s.lock();
    try {
      if (writeInPlace(offset, src)) {
        return;
      }
    } finally {
      s.unlock();
    }
    meta.lock();
    try {
      writeAllocating(offset, src);
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  /** Writes {@code src} where it already lives, if every cluster it touches is owned and allocated; else false. */
  private boolean writeInPlace(long offset, ByteBuffer src) throws IOException {
    long end = offset + src.remaining();
    for (long pos = offset; pos < end; pos = clusterEnd(pos)) {
      if (ownedHost(pos, Math.min(end, clusterEnd(pos))) < 0) {
        return false;
      }
    }
    for (long pos = offset; pos < end; ) {
      long host = ownedHost(pos, Math.min(end, clusterEnd(pos)));
      long runEnd = Math.min(end, clusterEnd(pos));
      // Neighbouring clusters that are neighbours on the host too go out in one write.
      while (runEnd < end && ownedHost(runEnd, Math.min(end, clusterEnd(runEnd))) == host + (runEnd - pos)) {
        runEnd = Math.min(end, clusterEnd(runEnd));
      }
      int n = (int) (runEnd - pos);
      file.write(host, src.slice(src.position(), n), Set.of());
      src.position(src.position() + n);
      pos = runEnd;
    }
    return true;
  }

  /**
   * The host offset of guest byte {@code from} if the image alone owns the cluster and stores every byte of
   * {@code [from, to)} (which lie in one cluster) there; else -1.
   */
  private long ownedHost(long from, long to) throws IOException {
    long l2Offset = l1.l2Offset(l1Index(from));
    if (l2Offset == 0) {
      return -1;
    }
    long[] table = l2.get(l2Offset);
    int i = l2Index(from) * geometry.wordsPerEntry();
    long word = L2Cache.word(table, i);
    long host = word & Geometry.OFFSET_MASK;
    if ((word & Geometry.COPIED) == 0 || (word & Geometry.COMPRESSED) != 0 || host == 0) {
      return -1;
    }
    if (geometry.extendedL2()) {
      long bitmap = L2Cache.word(table, i + 1);
      int first = (int) ((from & geometry.clusterMask()) >>> geometry.subclusterBits());
      int last = (int) (((to - 1) & geometry.clusterMask()) >>> geometry.subclusterBits());
      int wanted = (int) ((0xffffffffL >>> (31 - last)) & (0xffffffffL << first));
      if (((int) bitmap & wanted) != wanted) {
        return -1;
      }
    } else if ((word & Geometry.ZERO) != 0) {
      return -1;
    }
    return host + (from & geometry.clusterMask());
  }

  /**
   * Writes {@code src} at {@code offset}, allocating new clusters where the image does not own allocated ones:
   * each run of such clusters gets one contiguous host range, filled in one write with the old contents around the
   * new bytes. Under the metadata lock.
   */
  private void writeAllocating(long offset, ByteBuffer src) throws IOException {
    long end = offset + src.remaining();
    long pos = offset;
    while (pos < end) {
      long cEnd = Math.min(end, clusterEnd(pos));
      long host = ownedHost(pos, cEnd);
      if (host >= 0) {
        int n = (int) (cEnd - pos);
        file.write(host, src.slice(src.position(), n), Set.of());
        src.position(src.position() + n);
        pos = cEnd;
        continue;
      }
      // A run of clusters to allocate, within one L2 table.
      long runStart = pos & ~geometry.clusterMask();
      long runEnd = clusterEnd(pos);
      long tableEnd = (pos | (geometry.bytesPerL2() - 1)) + 1;
      while (runEnd < end && runEnd < tableEnd && ownedHost(runEnd, Math.min(end, clusterEnd(runEnd))) < 0) {
        runEnd = clusterEnd(runEnd);
      }
      long writeEnd = Math.min(end, runEnd);
      int clusters = (int) ((runEnd - runStart) >>> geometry.clusterBits());
      ByteBuffer data = ByteBuffer.allocate((int) (runEnd - runStart));
      if (pos > runStart) {
        current.read(runStart, data.slice(0, (int) (pos - runStart)));
      }
      int n = (int) (writeEnd - pos);
      data.put((int) (pos - runStart), src, src.position(), n);
      src.position(src.position() + n);
      if (writeEnd < runEnd) {
        current.read(writeEnd, data.slice((int) (writeEnd - runStart), (int) (runEnd - writeEnd)));
      }
      long fileSize = file.size();
      long newHost = refcounts.allocate(clusters);
      boolean fresh = newHost >= fileSize;
      if (fresh && isZero(data, 0, (int) (pos - runStart)) && isZero(data, (int) (writeEnd - runStart), data.limit())) {
        // Past the end of the file the new clusters already read as zeroes: write only the new bytes.
        file.write(newHost + (pos - runStart), data.slice((int) (pos - runStart), n), Set.of());
      } else {
        file.write(newHost, data, Set.of());
      }
      for (int k = 0; k < clusters; k++) {
        long guest = runStart + ((long) k << geometry.clusterBits());
        long word = (newHost + ((long) k << geometry.clusterBits())) | Geometry.COPIED;
        setEntry(guest, word, geometry.extendedL2() ? Geometry.SUBCLUSTERS_ALLOCATED : 0);
      }
      pos = writeEnd;
    }
  }

  /**
   * Makes {@code [offset, offset + length)} read as zeroes. Whole clusters become zero clusters (keeping their
   * storage unless {@code MAY_TRIM}); partial clusters are written with zeroes, which {@code FAST_ZERO} refuses.
   */
  void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    long end = offset + length;
    long first = roundUp(offset);
    long last = Math.max(first, end & ~geometry.clusterMask());
    boolean partial = first != offset || last != end;
    if (partial && flags.contains(WriteFlag.FAST_ZERO)) {
      throw new BlockDeviceException(BlockError.ENOTSUP,
          "writeZeroes: part of a cluster cannot be zeroed fast (expected: cluster-aligned ranges for FAST_ZERO)");
    }
    meta.lock();
    try {
      if (first >= end || first >= last) {
        writeAllocating(offset, ByteBuffer.allocate((int) length));
      } else {
        if (offset < first) {
          writeAllocating(offset, ByteBuffer.allocate((int) (first - offset)));
        }
        boolean trim = flags.contains(WriteFlag.MAY_TRIM);
        for (long c = first; c < last; c += geometry.clusterSize()) {
          zeroCluster(c, trim);
        }
        if (last < end) {
          writeAllocating(last, ByteBuffer.allocate((int) (end - last)));
        }
      }
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  private void zeroCluster(long guest, boolean trim) throws IOException {
    long old = entryWord(guest);
    long keep = old & (Geometry.OFFSET_MASK | Geometry.COPIED);
    boolean keepHost = !trim && (old & Geometry.COMPRESSED) == 0 && (old & Geometry.COPIED) != 0 && keep != 0;
    long word = keepHost ? keep : 0;
    if (geometry.extendedL2()) {
      setEntry(guest, word, Geometry.SUBCLUSTERS_ZERO);
    } else {
      setEntry(guest, word | Geometry.ZERO, 0);
    }
  }

  /**
   * Drops the whole clusters of the range as QEMU 7.2 does: on a version 3 image an allocated cluster, or any
   * cluster of an image with a backing file, becomes a zero cluster; on a version 2 image an allocated cluster
   * becomes unallocated, except with a backing file, where nothing happens (unallocating would expose the backing
   * image, and version 2 has no zero clusters). Partial clusters are left alone: discard is advisory.
   */
  void discard(long offset, long length) throws IOException {
    long first = roundUp(offset);
    long last = (offset + length) & ~geometry.clusterMask();
    if (hasBacking && !zeroClusters) {
      return;
    }
    meta.lock();
    try {
      for (long c = first; c < last; c += geometry.clusterSize()) {
        long old = entryWord(c);
        boolean allocated = (old & (Geometry.OFFSET_MASK | Geometry.COMPRESSED)) != 0;
        if (!allocated && !hasBacking) {
          if (old != 0 || geometry.extendedL2() && entryBitmap(c) != 0) {
            setEntry(c, 0, 0);
          }
        } else if (geometry.extendedL2()) {
          setEntry(c, 0, Geometry.SUBCLUSTERS_ZERO);
        } else {
          setEntry(c, zeroClusters ? Geometry.ZERO : 0, 0);
        }
      }
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  private long entryBitmap(long guest) throws IOException {
    long l2Offset = l1.l2Offset(l1Index(guest));
    return l2Offset == 0 ? 0 : L2Cache.word(l2.get(l2Offset), l2Index(guest) * 2 + 1);
  }

  /** The L2 entry word of the cluster at {@code guest} (0 where no L2 table exists). */
  private long entryWord(long guest) throws IOException {
    long l2Offset = l1.l2Offset(l1Index(guest));
    return l2Offset == 0 ? 0 : L2Cache.word(l2.get(l2Offset), l2Index(guest) * geometry.wordsPerEntry());
  }

  /**
   * Points the cluster at {@code guest} at {@code word} (and {@code bitmap} with extended L2 entries) and releases
   * what the old entry held. Under the metadata lock.
   */
  private void setEntry(long guest, long word, long bitmap) throws IOException {
    long tableOffset = writableTable(l1Index(guest));
    long[] table = l2.get(tableOffset);
    int i = l2Index(guest) * geometry.wordsPerEntry();
    long old = L2Cache.word(table, i);
    // The word before the bitmap: a reader that sees the new host offset with the old bitmap reads the old data.
    l2.set(tableOffset, table, i, word);
    if (geometry.extendedL2()) {
      l2.set(tableOffset, table, i + 1, bitmap);
    }
    release(old, word);
  }

  /** Records the release of the storage {@code old} held, unless {@code word} keeps it. */
  private void release(long old, long word) {
    if ((old & Geometry.COMPRESSED) != 0) {
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
   * The offset of the L2 table for {@code l1Index}, made writable: a new empty table where there is none, a copy
   * where a snapshot shares it (L1 entry without COPIED). Under the metadata lock.
   */
  private long writableTable(long l1Index) throws IOException {
    long entry = l1.entry(l1Index);
    long offset = entry & Geometry.OFFSET_MASK;
    if (offset != 0 && (entry & Geometry.COPIED) != 0) {
      return offset;
    }
    int words = (1 << geometry.l2Bits()) * geometry.wordsPerEntry();
    long[] table = offset == 0 ? new long[words] : l2.get(offset).clone();
    long fresh = refcounts.allocate(1);
    l2.add(fresh, table);
    l1.set((int) l1Index, fresh | Geometry.COPIED);
    if (offset != 0) {
      refcounts.free(offset, 1);
    }
    return fresh;
  }

  /**
   * Grows the virtual size to {@code newSize}: first, if the L1 table is too small, a larger copy is written
   * elsewhere and the header switched to it (one 12-byte write of l1_size and l1_table_offset), then the header's
   * size; each step durable before the next, so a crash leaves the old size or the new.
   */
  void grow(long newSize) throws IOException {
    meta.lock();
    try {
      long needed = geometry.l1EntriesFor(newSize);
      if (needed > l1.size()) {
        if (needed * 8 > Qcow2Header.MAX_L1_BYTES) {
          throw new BlockDeviceException(BlockError.EINVAL, "resize: size " + newSize + " needs an L1 table of "
              + needed * 8 + " bytes (expected: at most " + Qcow2Header.MAX_L1_BYTES + ", QEMU's limit)");
        }
        flushMetadata();
        ByteBuffer table = l1.grown((int) needed, geometry.clusterSize());
        int clusters = table.capacity() >>> geometry.clusterBits();
        long at = refcounts.allocate(clusters);
        flushMetadata();
        file.write(at, table, Set.of());
        file.flush();
        file.write(Qcow2Header.L1_SIZE_FIELD, ByteBuffer.allocate(12).putInt((int) needed).putLong(at).flip(), Set.of());
        file.flush();
        long oldOffset = l1.offset();
        int oldClusters = (int) Math.ceilDiv(l1.size() * 8L, geometry.clusterSize());
        l1.moveTo(at, (int) needed);
        if (oldClusters > 0) {
          refcounts.free(oldOffset, oldClusters);
        }
      }
      file.write(Qcow2Header.SIZE_FIELD, ByteBuffer.allocate(8).putLong(newSize).flip(), Set.of());
      flushMetadata();
      file.flush();
    } finally {
      meta.unlock();
    }
  }

  /** Makes every completed change durable and the metadata on disk consistent with it. */
  void flush() throws IOException {
    meta.lock();
    try {
      flushMetadata();
      file.flush();
    } finally {
      meta.unlock();
    }
  }

  /**
   * Writes back everything, releases included, in order, until nothing is left dirty, then clears the dirty bit
   * of lazy refcounts; for close.
   */
  void flushAll() throws IOException {
    meta.lock();
    try {
      do {
        flushOrdered();
      } while (refcounts.dirty() || l2.dirtyCount() > 0 || refcounts.hasPendingFrees());
      file.flush();
      if (lazy != null) {
        lazy.clear();
      }
    } finally {
      meta.unlock();
    }
  }

  /** The write-back: ordered, or with lazy refcounts only the tables (class comment). Under the metadata lock. */
  private void flushMetadata() throws IOException {
    // A moved refcount table is written with the header at once, lazy or not: the old table is freed right after,
    // and its clusters must not be reused while the header on disk still names it.
    if (lazy == null || refcounts.tableMoved()
        || !refcounts.dirty() && l2.dirtyCount() == 0 && !refcounts.hasPendingFrees() && !lazy.isSet()) {
      flushOrdered();
      return;
    }
    lazy.set();
    if (l2.dirtyCount() > 0) {
      file.flush();
      l2.writeDirty(file);
      file.flush();
    }
    if (l1.writeDirty(file)) {
      file.flush();
    }
    applyFrees();
  }

  /** The ordered write-back described in the class comment. Under the metadata lock. */
  private void flushOrdered() throws IOException {
    if (refcounts.writeBlocks()) {
      file.flush();
    }
    if (refcounts.writeTable()) {
      file.flush();
      ByteBuffer moved = refcounts.takeMovedHeaderFields();
      if (moved != null) {
        file.write(Qcow2Header.REFCOUNT_TABLE_OFFSET_FIELD, moved, Set.of());
        file.flush();
      }
    }
    if (l2.writeDirty(file)) {
      file.flush();
    }
    if (l1.writeDirty(file)) {
      file.flush();
    }
    applyFrees();
  }

  /** Counts down the released clusters, once nothing durable points at them. */
  private void applyFrees() throws IOException {
    if (refcounts.hasPendingFrees()) {
      Lock exclusive = inUse.writeLock();
      exclusive.lock();
      try {
        refcounts.applyFrees();
      } finally {
        exclusive.unlock();
      }
    }
  }

  private void flushIfTooDirty() throws IOException {
    if (l2.dirtyCount() * DIRTY_SHARE > l2.capacity()) {
      flushMetadata();
    }
  }

  private static final ByteBuffer ZEROES = ByteBuffer.allocate(1 << Qcow2Header.MAX_CLUSTER_BITS).asReadOnlyBuffer();

  private static boolean isZero(ByteBuffer b, int from, int to) {
    return from >= to || b.slice(from, to - from).mismatch(ZEROES.slice(0, to - from)) < 0;
  }

  private long clusterEnd(long pos) {
    return (pos | geometry.clusterMask()) + 1;
  }

  private long roundUp(long pos) {
    return (pos + geometry.clusterMask()) & ~geometry.clusterMask();
  }

  private long l1Index(long guest) {
    return guest >>> (geometry.clusterBits() + geometry.l2Bits());
  }

  private int l2Index(long guest) {
    return (int) ((guest >>> geometry.clusterBits()) & ((1L << geometry.l2Bits()) - 1));
  }
}
