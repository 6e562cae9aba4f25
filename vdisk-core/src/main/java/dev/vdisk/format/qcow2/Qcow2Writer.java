package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The write side of a qcow2 image: overwrites in place, allocating writes with copy-on-write of the untouched
 * part of each new (sub)cluster (in the same host write), zero clusters and subclusters, discard, resize, and the
 * ordered flush that keeps the image consistent on disk at every instant.
 *
 * <p><b>Ordering</b> ({@link #flushMetadata}): refcount blocks, then the refcount table (then the header if the
 * table moved), then L2 tables, then L1 entries, each step followed by a flush of the file, so that whatever
 * subset of unflushed writes a power loss keeps, every entry on disk points at a cluster whose refcount and
 * contents are already durable. Data is written before the L2 entries that expose it change in memory, and the file
 * (and an external data file) is flushed before L2 tables are written, so the data is durable first. Released clusters are counted down only after the entries that pointed at them are
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
 * <p><b>Allocation</b> follows QEMU 7.2 so that {@code qemu-img map} of an image vdisk wrote equals that of one
 * QEMU wrote: with extended L2 entries only the subclusters a write touches are allocated (and only their partly
 * written ones copied); zeroes and discards set whole (sub)clusters as QEMU sets them. With an external data file
 * every guest cluster lives at its own offset there: no refcounts, and released clusters are discarded in the
 * data file at once (a raw data file is zeroed along with the image, so it reads as the guest disk).
 */
final class Qcow2Writer {
  /** Metadata flushes start when this share of the L2 cache's tables are dirty. */
  private static final int DIRTY_SHARE = 2;
  /**
   * Metadata flushes also start when this much space is freed but not reusable yet (a freed cluster is reused only
   * once its release is durable): a guest that trims and rewrites then grows the file by about this much, not
   * without bound.
   */
  static final long FREED_FLUSH_BYTES = 32L << 20;
  /** Bytes of zeroes written per request where zeroes must be written as data. */
  private static final int ZERO_CHUNK = 1 << 20;

  private final BlockDevice file;
  private final BlockDevice data;
  private final boolean dataFile;
  private final boolean dataFileRaw;
  private final Geometry geometry;
  private final L1Table l1;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  private final boolean zeroClusters;
  private final boolean hasBacking;
  private final GuestReader current;
  private final ZeroStatus zeroStatus;
  /** The dirty bit of an image with lazy refcounts; null without them. */
  private final DirtyBit lazy;
  private final ReentrantLock meta = new ReentrantLock();
  private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
  private volatile long size;
  /**
   * Where the data file must end for the clusters written past its end: extended at the next metadata write-back
   * (one ftruncate per flush, not per allocating write), before any L2 entry exposes them. Under the metadata lock.
   */
  private long dataEnd;

  /** Reads guest bytes as the image defines them now. */
  @FunctionalInterface
  interface GuestReader {
    void read(long offset, ByteBuffer dst) throws IOException;
  }

  /** QEMU's {@code is_zero}: whether guest bytes read as zeroes by block status (this image, then its backing chain). */
  @FunctionalInterface
  interface ZeroStatus {
    boolean readsAsZero(long offset, long length) throws IOException;
  }

  /**
   * @param data where guest clusters live: {@code file}, or the external data file
   * @param dataFileRaw the external data file is kept readable as a raw image (data_file_raw)
   * @param version 2 or 3: version 2 has no zero clusters
   * @param size the virtual size
   * @param current reads the image's guest bytes (for copy-on-write), without taking {@link #shared()}
   * @param zeroStatus block status of guest bytes, without taking {@link #shared()}
   * @param lazy the dirty bit of an image with lazy refcounts, null without them
   */
  Qcow2Writer(BlockDevice file, BlockDevice data, boolean dataFileRaw, Geometry geometry, L1Table l1, L2Cache l2,
      RefcountStore refcounts, int version, long size, boolean hasBacking, GuestReader current, ZeroStatus zeroStatus,
      DirtyBit lazy) {
    this.lazy = lazy;
    this.file = file;
    this.data = data;
    this.dataFile = data != file;
    this.dataFileRaw = dataFileRaw;
    this.geometry = geometry;
    this.l1 = l1;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.zeroClusters = version >= 3;
    this.size = size;
    this.hasBacking = hasBacking;
    this.current = current;
    this.zeroStatus = zeroStatus;
  }

  /** The lock every read and overwrite holds, so clusters are not released under it. */
  Lock shared() {
    return inUse.readLock();
  }

  boolean zeroClusters() {
    return zeroClusters;
  }

  /** {@link RefcountStore#countInUse} of the refcounts as they are now (written back or not). */
  long clustersInUse(long clusters, long stopAt) throws IOException {
    meta.lock();
    try {
      return refcounts.countInUse(clusters, stopAt);
    } finally {
      meta.unlock();
    }
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
      writeLocked(offset, src);
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  /**
   * Writes {@code src} where it already lives, if every cluster it touches is owned and allocated; else false.
   *
   * <p>Each cluster's host offset is looked up once, and the write goes there even if a discard or a zeroing (which
   * change L2 entries under the metadata lock only) changes the entry meanwhile: the cluster is not released while
   * this request holds {@link #shared()}, so the outcome is this write's followed by that change's, which is as
   * correct for overlapping requests as the other order. Looking it up again could find it unallocated.
   */
  private boolean writeInPlace(long offset, ByteBuffer src) throws IOException {
    long end = offset + src.remaining();
    long[] hosts = new long[(int) ((clusterEnd(end - 1) - (offset & ~geometry.clusterMask())) >>> geometry.clusterBits())];
    long pos = offset;
    for (int k = 0; k < hosts.length; k++) {
      long to = Math.min(end, clusterEnd(pos));
      hosts[k] = ownedHost(pos, to);
      if (hosts[k] < 0) {
        return false;
      }
      pos = to;
    }
    pos = offset;
    for (int k = 0; k < hosts.length; ) {
      long host = hosts[k];
      long runEnd = Math.min(end, clusterEnd(pos));
      k++;
      // Neighbouring clusters that are neighbours on the host too go out in one write.
      while (k < hosts.length && hosts[k] == host + (runEnd - pos)) {
        runEnd = Math.min(end, clusterEnd(runEnd));
        k++;
      }
      int n = (int) (runEnd - pos);
      data.write(host, src.slice(src.position(), n), Set.of());
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
    long word = L2Cache.word(table, index(from));
    if ((word & Geometry.COPIED) == 0 || kind(word) != L2Kind.NORMAL) {
      return -1;
    }
    if (geometry.extendedL2()) {
      long wanted = allocRange(subcluster(from), subcluster(to - 1) + 1);
      if ((bitmap(table, from) & wanted) != wanted) {
        return -1;
      }
    }
    return (word & Geometry.OFFSET_MASK) + (from & geometry.clusterMask());
  }

  /**
   * Writes {@code src} at {@code offset} where the fast path could not, as QEMU 7.2 does ({@code handle_copied},
   * {@code handle_alloc}, {@code calculate_l2_meta}): per L2 table, runs of clusters the image owns (kept, written in
   * place) and runs that need new clusters. Each run is one host write: the new bytes and, around them, the
   * copy-on-write of only what the new bytes do not cover but the written (sub)clusters must hold. Under the
   * metadata lock.
   */
  private void writeLocked(long offset, ByteBuffer src) throws IOException {
    long end = offset + src.remaining();
    long pos = offset;
    while (pos < end) {
      long stop = Math.min(end, (pos | (geometry.bytesPerL2() - 1)) + 1);
      // QEMU takes the L2 table first, so a new table comes before the data clusters in the file.
      boolean newTable = l1.l2Offset(l1Index(pos)) == 0;
      long tableOffset = writableTable(l1Index(pos));
      long[] table = l2.get(tableOffset);
      long first = L2Cache.word(table, index(pos));
      boolean keep = !needsNewAlloc(first);
      long runEnd = clusterEnd(pos);
      long nextHost = (first & Geometry.OFFSET_MASK) + geometry.clusterSize();
      while (runEnd < stop) {
        long w = L2Cache.word(table, index(runEnd));
        if (needsNewAlloc(w) == keep || keep && (w & Geometry.OFFSET_MASK) != nextHost) {
          break;
        }
        runEnd = clusterEnd(runEnd);
        nextHost += geometry.clusterSize();
      }
      long writeEnd = Math.min(stop, runEnd);
      try {
        writeRun(table, pos, writeEnd, src, keep);
      } catch (IOException e) {
        if (newTable) {
          dropNewTable(l1Index(pos), tableOffset);
        }
        throw e;
      }
      pos = writeEnd;
    }
  }

  /** Writes {@code [pos, writeEnd)} (one run of {@link #writeLocked}) from {@code src}. Under the metadata lock. */
  private void writeRun(long[] table, long pos, long writeEnd, ByteBuffer src, boolean keep) throws IOException {
    long runStart = pos & ~geometry.clusterMask();
    int clusters = (int) ((clusterEnd(writeEnd - 1) - runStart) >>> geometry.clusterBits());
    int n = (int) (writeEnd - pos);
    long firstWord = L2Cache.word(table, index(pos));
    if (keep && allNormal(table, pos, writeEnd)) {
      data.write((firstWord & Geometry.OFFSET_MASK) + (pos - runStart), src.slice(src.position(), n), Set.of());
      src.position(src.position() + n);
      return;
    }
    long lastWord = L2Cache.word(table, index(writeEnd - 1));
    long cowStartTo = pos - runStart;
    long cowEndFrom = writeEnd - runStart;
    long cowStartFrom = cowStartFrom(firstWord, bitmap(table, pos), subcluster(pos), keep, cowStartTo);
    long cowEndTo = cowEndTo(lastWord, bitmap(table, writeEnd - 1), subcluster(writeEnd - 1), keep, cowEndFrom);
    int head = (int) (cowStartTo - cowStartFrom);
    ByteBuffer buf;
    if (head == 0 && cowEndTo == cowEndFrom) {
      // Nothing to copy: the caller's buffer goes out as it is (a direct buffer reaches pwrite without a copy).
      buf = src.slice(src.position(), n);
    } else {
      buf = ByteBuffer.allocate((int) (cowEndTo - cowStartFrom));
      if (head > 0) {
        current.read(runStart + cowStartFrom, buf.slice(0, head));
      }
      buf.put(head, src, src.position(), n);
      if (cowEndTo > cowEndFrom) {
        current.read(runStart + cowEndFrom, buf.slice(head + n, (int) (cowEndTo - cowEndFrom)));
      }
    }
    src.position(src.position() + n);
    long host;
    if (keep) {
      host = firstWord & Geometry.OFFSET_MASK;
    } else if (dataFile) {
      host = runStart;
    } else {
      host = refcounts.allocate(clusters);
    }
    long at = host + cowStartFrom;
    try {
      if (!keep && at >= data.size() && isZero(buf, 0, head) && isZero(buf, head + n, buf.limit())) {
        // Past the end of the file the copy-on-write parts already read as zeroes: write only the new bytes, and let
        // the file end where QEMU's zeroing of them would (sparse), as qemu-img map looks at the file's holes.
        data.write(at + head, buf.slice(head, n), Set.of());
        dataEnd = Math.max(dataEnd, at + buf.limit());
      } else {
        data.write(at, buf, Set.of());
      }
    } catch (IOException e) {
      if (!keep && !dataFile) {
        // As QEMU's qcow2_alloc_cluster_abort: no entry points at the new clusters yet; give them back, so a full
        // disk leaks nothing and later flushes have nothing of this request's to write.
        refcounts.unallocate(host, clusters);
      }
      throw e;
    }
    for (int k = 0; k < clusters; k++) {
      long guest = runStart + ((long) k << geometry.clusterBits());
      long word = (host + ((long) k << geometry.clusterBits())) | Geometry.COPIED;
      long bitmap = 0;
      if (geometry.extendedL2()) {
        // The (sub)clusters written here, copy-on-write included, are allocated now; the others keep their state.
        long from = Math.max(cowStartFrom, (long) k << geometry.clusterBits()) - ((long) k << geometry.clusterBits());
        long to = Math.min(cowEndTo, (long) (k + 1) << geometry.clusterBits()) - ((long) k << geometry.clusterBits());
        long range = allocRange((int) (from >>> geometry.subclusterBits()), (int) ((to - 1) >>> geometry.subclusterBits()) + 1);
        bitmap = (entryBitmap(guest) | range) & ~(range << 32);
      }
      setEntry(guest, word, bitmap);
    }
  }

  /** QEMU's {@code cow_start.offset}: where the run's host write starts, relative to its first cluster. */
  private long cowStartFrom(long word, long bitmap, int sc, boolean keep, long cowStartTo) {
    long scStart = (long) sc << geometry.subclusterBits();
    if (keep) {
      return subclusterNormal(word, bitmap, sc) ? cowStartTo : scStart;
    }
    return switch (kind(word)) {
      case COMPRESSED -> 0;
      case NORMAL, ZERO_ALLOC -> geometry.extendedL2()
          ? (long) Math.min(sc, Integer.numberOfTrailingZeros((int) bitmap)) << geometry.subclusterBits()
          : 0;
      case ZERO_PLAIN, UNALLOCATED -> scStart;
    };
  }

  /** QEMU's {@code cow_end} end: where the run's host write ends, relative to its first cluster. */
  private long cowEndTo(long word, long bitmap, int sc, boolean keep, long cowEndFrom) {
    if (keep) {
      return subclusterNormal(word, bitmap, sc) ? cowEndFrom : roundUp(cowEndFrom, geometry.subclusterSize());
    }
    long clusterEnd = roundUp(cowEndFrom, geometry.clusterSize());
    return switch (kind(word)) {
      case COMPRESSED -> clusterEnd;
      case NORMAL, ZERO_ALLOC -> geometry.extendedL2()
          ? clusterEnd - ((long) Math.min(Geometry.SUBCLUSTERS - sc - 1, Integer.numberOfLeadingZeros((int) bitmap))
              << geometry.subclusterBits())
          : clusterEnd;
      case ZERO_PLAIN, UNALLOCATED -> roundUp(cowEndFrom, geometry.subclusterSize());
    };
  }

  /** True if every subcluster of {@code [from, to)} (within one L2 table) holds data: QEMU's skip_cow. */
  private boolean allNormal(long[] table, long from, long to) {
    for (long pos = from; pos < to; pos = Math.min(to, (pos | (geometry.subclusterSize() - 1)) + 1)) {
      if (!subclusterNormal(L2Cache.word(table, index(pos)), bitmap(table, pos), subcluster(pos))) {
        return false;
      }
    }
    return true;
  }

  /** QEMU's QCOW2_SUBCLUSTER_NORMAL: subcluster {@code sc} of the entry holds data. */
  private boolean subclusterNormal(long word, long bitmap, int sc) {
    return kind(word) == L2Kind.NORMAL && (!geometry.extendedL2() || (bitmap >>> sc & 1) != 0);
  }

  /** QEMU's {@code cluster_needs_new_alloc}: the image does not own a (possibly zero) cluster there alone. */
  private boolean needsNewAlloc(long word) {
    return !kind(word).ownsCluster() || (word & Geometry.COPIED) == 0;
  }

  private L2Kind kind(long word) {
    return L2Kind.of(word, geometry.extendedL2(), dataFile);
  }

  /**
   * Stores the compressed bytes of the cluster at {@code guest} as QEMU's qcow2_alloc_compressed_cluster_offset does:
   * packed byte-wise after earlier compressed clusters ({@link RefcountStore#allocateBytes}), the data written before
   * the L2 entry points at it, the entry a compressed descriptor (host offset, additional 512-byte sectors; an
   * extended L2 bitmap of 0). Like QEMU, refuses (EIO) a cluster that has a host cluster already, compressed or not:
   * compressed clusters are written once, into unallocated or zero clusters.
   *
   * @param data the compressed bytes, fewer than a cluster
   */
  void writeCompressedCluster(long guest, ByteBuffer data) throws IOException {
    meta.lock();
    try {
      if ((entryWord(guest) & Geometry.OFFSET_MASK) != 0) {
        throw new BlockDeviceException(BlockError.EIO, "write: COMPRESSED at guest offset " + guest
            + ": the cluster is allocated already (expected: an unallocated or zero cluster; compressed clusters are"
            + " written once, as in QEMU)");
      }
      // The L2 table first, as QEMU allocates it, so that the two lay out files alike.
      writableTable(l1Index(guest));
      int length = data.remaining();
      long host = refcounts.allocateBytes(length);
      if (host + length > 1L << geometry.compressedSizeShift()) {
        throw new BlockDeviceException(BlockError.ENOSPC, "write: COMPRESSED: host offset " + host
            + " is beyond what a compressed descriptor can hold (expected: below " + (1L << geometry.compressedSizeShift()) + ")");
      }
      file.write(host, data, Set.of());
      long extraSectors = (host + length - 1) / 512 - host / 512;
      setEntry(guest, host | Geometry.COMPRESSED | extraSectors << geometry.compressedSizeShift(), 0);
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  /**
   * Makes {@code [offset, offset + length)} read as zeroes as QEMU 7.2 does ({@code bdrv_co_do_pwrite_zeroes} with
   * the subcluster as the zeroing unit, {@code qcow2_co_pwrite_zeroes}, {@code qcow2_subcluster_zeroize}): whole
   * clusters become zero clusters (their storage freed with {@code MAY_TRIM}), whole subclusters get their zero
   * bits, a partial (sub)cluster whose other bytes already read as zeroes is zeroed whole, and what is left is
   * written as zero data, which {@code FAST_ZERO} refuses. A version 2 image has no zero clusters: there zeroing
   * discards (without a backing file) or writes zeroes.
   */
  void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    long end = offset + length;
    int unit = geometry.subclusterSize();
    meta.lock();
    try {
      long pos = offset;
      while (pos < end) {
        long head = pos & (unit - 1);
        long n;
        if (head != 0) {
          n = Math.min(end - pos, unit - head);
        } else {
          long tail = end & (unit - 1);
          n = end - pos;
          if (tail != 0 && n > unit) {
            n -= tail;
          }
        }
        zeroPiece(pos, n, flags);
        pos += n;
      }
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  /** One request of the block layer's split: QEMU's {@code qcow2_co_pwrite_zeroes}, with its fallback to writes. */
  private void zeroPiece(long offset, long length, Set<WriteFlag> flags) throws IOException {
    int unit = geometry.subclusterSize();
    long head = offset & (unit - 1);
    long tail = roundUp(offset + length, unit) - (offset + length);
    if (offset + length == size) {
      tail = 0;
    }
    boolean zeroed;
    if (head != 0 || tail != 0) {
      long start = offset - head;
      zeroed = zeroStatus.readsAsZero(start, head) && zeroStatus.readsAsZero(offset + length, tail)
          && subclusterUnallocatedOrZero(start) && zeroize(start, unit, flags);
    } else {
      zeroed = zeroize(offset, length, flags);
    }
    if (zeroed) {
      return;
    }
    if (flags.contains(WriteFlag.FAST_ZERO)) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "writeZeroes: " + length + " bytes at " + offset
          + " cannot be zeroed fast (expected: whole subclusters, or parts whose neighbours read as zeroes)");
    }
    for (long pos = offset; pos < offset + length; pos += ZERO_CHUNK) {
      writeLocked(pos, ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, offset + length - pos)));
    }
  }

  /** True if the subcluster at {@code guest} is unallocated or zero, plain or with storage. */
  private boolean subclusterUnallocatedOrZero(long guest) throws IOException {
    long word = entryWord(guest);
    return switch (kind(word)) {
      case UNALLOCATED, ZERO_PLAIN, ZERO_ALLOC -> true;
      case COMPRESSED -> false;
      case NORMAL -> geometry.extendedL2() && (entryBitmap(guest) >>> subcluster(guest) & 1) == 0;
    };
  }

  /**
   * QEMU's {@code qcow2_subcluster_zeroize} of a subcluster-aligned range (its end may be the image's end); false
   * where QEMU answers ENOTSUP (the caller writes zeroes instead).
   */
  private boolean zeroize(long offset, long length, Set<WriteFlag> flags) throws IOException {
    long end = offset + length;
    long inData = Math.min(length, data.size() - offset);
    if (dataFileRaw && inData > 0) {
      // The raw data file must read as the guest disk: it is zeroed too (past its end it reads as zeroes already).
      data.writeZeroes(offset, inData, flags.contains(WriteFlag.MAY_TRIM) ? Set.of(WriteFlag.MAY_TRIM) : Set.of());
    }
    if (!zeroClusters) {
      if (hasBacking) {
        return false;
      }
      discardClusters(offset, end);
      return true;
    }
    long head = Math.min(end, roundUp(offset, geometry.clusterSize())) - offset;
    long pos = offset + head;
    long tail = end >= size ? 0 : end - Math.max(pos, end & ~geometry.clusterMask());
    long wholeEnd = end - tail;
    if (head > 0 && isCompressed(offset) || tail > 0 && isCompressed(wholeEnd)) {
      return false;
    }
    if (head > 0) {
      zeroSubclusters(offset, head);
    }
    boolean trim = flags.contains(WriteFlag.MAY_TRIM);
    for (long c = pos; c < wholeEnd; c += geometry.clusterSize()) {
      zeroCluster(c, trim);
    }
    if (tail > 0) {
      zeroSubclusters(wholeEnd, tail);
    }
    return true;
  }

  private boolean isCompressed(long guest) throws IOException {
    return kind(entryWord(guest)) == L2Kind.COMPRESSED;
  }

  /** QEMU's {@code zero_l2_subclusters}: the subclusters of {@code [guest, guest + length)} in one cluster read as zeroes. */
  private void zeroSubclusters(long guest, long length) throws IOException {
    writableTable(l1Index(guest));
    int first = subcluster(guest);
    int last = subcluster(guest + length - 1);
    long range = allocRange(first, last + 1);
    long old = entryBitmap(guest);
    long bitmap = (old | range << 32) & ~range;
    if (bitmap != old) {
      setEntry(guest, entryWord(guest), bitmap);
    }
  }

  /** QEMU's {@code zero_in_l2_slice} for one cluster. */
  private void zeroCluster(long guest, boolean trim) throws IOException {
    writableTable(l1Index(guest));
    long old = entryWord(guest);
    L2Kind kind = kind(old);
    boolean unmap = kind == L2Kind.COMPRESSED || trim && kind != L2Kind.UNALLOCATED && kind != L2Kind.ZERO_PLAIN;
    long word = unmap ? 0 : old;
    long bitmap = 0;
    if (geometry.extendedL2()) {
      bitmap = Geometry.SUBCLUSTERS_ZERO;
    } else {
      word |= Geometry.ZERO;
    }
    if (word != old || geometry.extendedL2() && bitmap != entryBitmap(guest)) {
      setEntry(guest, word, bitmap);
    }
  }

  /**
   * Discards as QEMU 7.2 does ({@code qcow2_co_pdiscard}): only whole clusters, and the partial cluster at the end
   * of the image; on a version 2 image with a backing file nothing (QEMU's ENOTSUP, which discard ignores).
   */
  void discard(long offset, long length) throws IOException {
    long first = roundUp(offset, geometry.clusterSize());
    long end = offset + length;
    long last = end == size && (end & ~geometry.clusterMask()) >= offset ? end : end & ~geometry.clusterMask();
    if (hasBacking && !zeroClusters || first >= last) {
      return;
    }
    meta.lock();
    try {
      discardClusters(first, last);
      flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  /**
   * QEMU's {@code qcow2_cluster_discard} without full discard over the clusters of {@code [first, end)}: an allocated
   * cluster, or any cluster of an image with a backing file, becomes a zero cluster (version 3) or unallocated
   * (version 2); unallocated clusters of an image without one stay as they are. Under the metadata lock.
   */
  private void discardClusters(long first, long end) throws IOException {
    for (long c = first; c < end; c += geometry.clusterSize()) {
      writableTable(l1Index(c));
      long old = entryWord(c);
      long oldBitmap = geometry.extendedL2() ? entryBitmap(c) : 0;
      long word = old;
      long bitmap = oldBitmap;
      L2Kind kind = kind(old);
      if (hasBacking || kind == L2Kind.NORMAL || kind == L2Kind.ZERO_ALLOC || kind == L2Kind.COMPRESSED) {
        if (geometry.extendedL2()) {
          word = 0;
          bitmap = Geometry.SUBCLUSTERS_ZERO;
        } else {
          word = zeroClusters ? Geometry.ZERO : 0;
        }
      }
      if (word != old || bitmap != oldBitmap) {
        setEntry(c, word, bitmap);
      }
    }
  }

  /** The bitmap word of the entry for {@code guest} in {@code table} (0 without extended L2). */
  private long bitmap(long[] table, long guest) {
    return geometry.extendedL2() ? L2Cache.word(table, index(guest) + 1) : 0;
  }

  private long entryBitmap(long guest) throws IOException {
    long l2Offset = l1.l2Offset(l1Index(guest));
    return l2Offset == 0 || !geometry.extendedL2() ? 0 : L2Cache.word(l2.get(l2Offset), index(guest) + 1);
  }

  /** The L2 entry word of the cluster at {@code guest} (0 where no L2 table exists). */
  private long entryWord(long guest) throws IOException {
    long l2Offset = l1.l2Offset(l1Index(guest));
    return l2Offset == 0 ? 0 : L2Cache.word(l2.get(l2Offset), index(guest));
  }

  /**
   * Points the cluster at {@code guest} at {@code word} (and {@code bitmap} with extended L2 entries) and releases
   * what the old entry held. Under the metadata lock.
   */
  private void setEntry(long guest, long word, long bitmap) throws IOException {
    long tableOffset = writableTable(l1Index(guest));
    long[] table = l2.get(tableOffset);
    int i = index(guest);
    long old = L2Cache.word(table, i);
    // The word before the bitmap: a reader that sees the new host offset with the old bitmap reads the old data.
    l2.set(tableOffset, table, i, word);
    if (geometry.extendedL2()) {
      l2.set(tableOffset, table, i + 1, bitmap);
    }
    release(old, word);
  }

  /**
   * Releases the storage {@code old} held, unless {@code word} keeps it: a free recorded for the next flush, or with
   * an external data file (whose clusters have no refcounts) a discard of the cluster there, as QEMU does.
   */
  private void release(long old, long word) throws IOException {
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
   * back. Under the metadata lock.
   */
  private void dropNewTable(long l1Index, long tableOffset) throws IOException {
    l1.set((int) l1Index, 0);
    l2.drop(tableOffset);
    refcounts.unallocate(tableOffset, 1);
  }

  /**
   * The offset of the L2 table for {@code l1Index}, made writable: a new empty table where there is none, a copy
   * where a snapshot shares it (L1 entry without COPIED). A new table's cluster is written at once (zeroes, its
   * contents follow at the flush), as QEMU writes a new table: its disk space is taken now, so a full disk fails
   * this request, which changed nothing yet, rather than every later flush. Under the metadata lock.
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

  /**
   * Grows the virtual size to {@code newSize}: first, if the L1 table is too small, a larger copy is written
   * elsewhere and the header switched to it (one 12-byte write of l1_size and l1_table_offset), then, with {@code
   * hideBacking}, the grown range is zeroed ({@link #zeroGrownRange}), then the header's size; each step durable
   * before the next, so a crash leaves the old size or the new, and the new never over the backing file's bytes.
   *
   * @param hideBacking the backing file is longer than the old size, so its bytes would show in the grown range
   */
  void grow(long newSize, boolean hideBacking) throws IOException {
    meta.lock();
    try {
      long zeroStart = roundUp(size, geometry.subclusterSize());
      if (hideBacking && newSize > zeroStart && !zeroClusters) {
        // Checked first, so the refusal leaves the image untouched (QEMU fails after growing the L1 table).
        throw new BlockDeviceException(BlockError.ENOTSUP, "resize: Failed to zero out new clusters: the backing"
            + " file is longer than the old size " + size + " and a version 2 image has no zero clusters to hide it"
            + " with (expected: compat=1.1, as in QEMU)");
      }
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
      if (dataFileRaw) {
        // QEMU preallocates the metadata of the new part (guest offset = data file offset), so that the mapping
        // stays 1:1 as data_file_raw promises; like its preallocation, without touching subcluster bitmaps.
        for (long c = size & ~geometry.clusterMask(); c < newSize; c += geometry.clusterSize()) {
          if (needsNewAlloc(entryWord(c))) {
            setEntry(c, c | Geometry.COPIED, entryBitmap(c));
          }
        }
      }
      if (hideBacking) {
        zeroGrownRange(newSize, zeroStart);
      }
      // The new part's metadata is durable before the size exposes it.
      flushMetadata();
      file.write(Qcow2Header.SIZE_FIELD, ByteBuffer.allocate(8).putLong(newSize).flip(), Set.of());
      file.flush();
      size = newSize;
      resizeDataFile(newSize);
    } finally {
      meta.unlock();
    }
  }

  /**
   * Makes {@code [size, newSize)} read as zeroes as QEMU's {@code qcow2_co_truncate} does with
   * {@code BDRV_REQ_ZERO_WRITE}: zero (sub)clusters from {@code zeroStart} (the old size rounded up to a subcluster;
   * the end may be unaligned, as it is the image's end), and zeroes written as data from the old size to there.
   * Under the metadata lock, before the size changes.
   */
  private void zeroGrownRange(long newSize, long zeroStart) throws IOException {
    if (newSize > zeroStart) {
      zeroize(zeroStart, newSize - zeroStart, Set.of());
    }
    long head = Math.min(zeroStart, newSize) - size;
    if (head > 0) {
      writeLocked(size, ByteBuffer.allocate((int) head));
    }
  }

  /**
   * Shrinks the virtual size to {@code newSize} as {@code qemu-img resize --shrink} does ({@code qcow2_co_truncate}):
   * every cluster past the new end is dropped (refcounts released, host space punched), the L1 entries past it are
   * cleared (l1_size stays), refcount blocks that count nothing any more leave the refcount table, and the file is
   * cut after its last used cluster; an external data file is cut to the new size.
   *
   * <p>Order, each step durable before the next: the new size first, so no guest request reaches what follows;
   * then the L2 entries and L1 entries that pointed past it; only then are the clusters counted down (so a crash
   * leaves leaks at worst, and nothing is reused while durable metadata points at it); then the refcount table
   * without the empty blocks, then those blocks counted down, and the file truncated last, when nothing durable
   * counts or names a cluster past its new end.
   */
  void shrink(long newSize) throws IOException {
    meta.lock();
    try {
      flushMetadata();
      file.write(Qcow2Header.SIZE_FIELD, ByteBuffer.allocate(8).putLong(newSize).flip(), Set.of());
      file.flush();
      long oldSize = size;
      size = newSize;
      long keptTables = geometry.l1EntriesFor(newSize);
      long tablesEnd = Math.min(roundUp(oldSize, geometry.clusterSize()), keptTables * geometry.bytesPerL2());
      for (long c = roundUp(newSize, geometry.clusterSize()); c < tablesEnd; c += geometry.clusterSize()) {
        if (l1.l2Offset(l1Index(c)) != 0 && (entryWord(c) != 0 || entryBitmap(c) != 0)) {
          setEntry(c, 0, 0);
        }
      }
      for (int i = (int) keptTables; i < l1.size(); i++) {
        long table = l1.l2Offset(i);
        if (table == 0) {
          continue;
        }
        long[] words = l2.get(table);
        for (int k = 0; k < words.length; k += geometry.wordsPerEntry()) {
          release(L2Cache.word(words, k), 0);
        }
        l1.set(i, 0);
        l2.drop(table);
        refcounts.free(table, 1);
      }
      // L2 and L1 entries, then the releases; then the table without the empty blocks, then their release.
      flushMetadata();
      if (refcounts.dropEmptyBlocks()) {
        flushMetadata();
        flushMetadata();
      }
      file.flush();
      dataEnd = 0; // extended by the flushes above; the file may end before it now
      long end = refcounts.trimEnd();
      if (end < file.size()) {
        file.resize(end);
        file.flush();
      }
      resizeDataFile(newSize);
    } finally {
      meta.unlock();
    }
  }

  /**
   * QEMU's {@code qcow2_make_empty} as its general path does it (a full discard of every cluster): every L2 entry of
   * the active layer becomes unallocated, so the backing image shows through; the L2 tables stay. Durable on
   * return, the entries before the releases as in every discard, so a crash leaves leaks at worst.
   */
  void makeEmpty() throws IOException {
    meta.lock();
    try {
      for (int i = 0; i < l1.size(); i++) {
        if (l1.l2Offset(i) == 0) {
          continue;
        }
        long from = (long) i * geometry.bytesPerL2();
        long to = Math.min(roundUp(size, geometry.clusterSize()), from + geometry.bytesPerL2());
        for (long c = from; c < to; c += geometry.clusterSize()) {
          if (entryWord(c) != 0 || entryBitmap(c) != 0) {
            setEntry(c, 0, 0);
          }
        }
      }
      writeBackAll();
    } finally {
      meta.unlock();
    }
  }

  /** An external data file follows the virtual size, as QEMU truncates it. */
  private void resizeDataFile(long newSize) throws IOException {
    if (dataFile && data.size() != newSize) {
      data.resize(newSize);
      data.flush();
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

  /** Writes back every metadata change in order and flushes the file. */
  @FunctionalInterface
  interface WriteBack {
    void run() throws IOException;
  }

  /**
   * Writes back everything, releases included, in order, until nothing is left dirty; then lets {@code bitmaps}
   * (if any) store themselves through the refcounts and writes back what they allocated and released; then clears
   * the dirty bit of lazy refcounts; for close.
   */
  void flushAll(PersistentBitmaps bitmaps) throws IOException {
    meta.lock();
    try {
      writeBackAll();
      if (bitmaps != null) {
        bitmaps.store(refcounts, this::writeBackAll);
        writeBackAll();
      }
      if (lazy != null) {
        lazy.clear();
      }
    } finally {
      meta.unlock();
    }
  }

  /** Writes back everything, releases included, in order until nothing is left dirty. Under the metadata lock. */
  private void writeBackAll() throws IOException {
    extendData();
    do {
      flushOrdered();
    } while (refcounts.dirty() || l2.dirtyCount() > 0 || refcounts.hasPendingFrees());
    file.flush();
  }

  /** The write-back: ordered, or with lazy refcounts only the tables (class comment). Under the metadata lock. */
  private void flushMetadata() throws IOException {
    extendData();
    if (dataFile) {
      // Data in the external data file before the L2 entries that expose it.
      data.flush();
    }
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
    boolean flushed = refcounts.writeBack();
    if (!flushed && l2.dirtyCount() > 0) {
      // Data written in place into owned storage (a zero cluster's, an unallocated subcluster's) allocates nothing,
      // so no refcount flush above covered it: it must be durable before the entry that exposes it.
      file.flush();
    }
    if (l2.writeDirty(file)) {
      file.flush();
    }
    if (l1.writeDirty(file)) {
      file.flush();
    }
    applyFrees();
  }

  /**
   * Extends the data file to the end of the last cluster written past it, where QEMU's zeroing of the cluster would
   * have ended it (the file stays sparse; {@code qemu-img map} reads its holes).
   */
  private void extendData() throws IOException {
    if (data.size() < dataEnd) {
      data.resize(dataEnd);
    }
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
    if (l2.dirtyCount() * DIRTY_SHARE > l2.capacity() || refcounts.pendingFreeBytes() >= FREED_FLUSH_BYTES) {
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

  private static long roundUp(long pos, long unit) {
    return (pos + unit - 1) & -unit;
  }

  /** Bits {@code [from, to)} of a 32-bit subcluster bitmap. */
  private static long allocRange(int from, int to) {
    return ((1L << to) - 1) & -(1L << from);
  }

  private long l1Index(long guest) {
    return guest >>> (geometry.clusterBits() + geometry.l2Bits());
  }

  /** The index of the first word of {@code guest}'s entry in its L2 table. */
  private int index(long guest) {
    return (int) ((guest >>> geometry.clusterBits()) & ((1L << geometry.l2Bits()) - 1)) * geometry.wordsPerEntry();
  }

  /** The subcluster of its cluster that {@code guest} lies in (0 without extended L2). */
  private int subcluster(long guest) {
    return (int) ((guest & geometry.clusterMask()) >>> geometry.subclusterBits());
  }
}
