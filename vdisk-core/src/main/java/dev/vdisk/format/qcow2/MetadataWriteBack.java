package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.util.concurrent.locks.Lock;
import java.util.function.IntSupplier;

/**
 * The metadata write-back of a writable image ({@link Qcow2Writer}): the ordered flush that keeps the image
 * consistent on disk at every instant, and the releases that wait for it.
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
 * <p>Every method runs under the writer's metadata lock.
 */
final class MetadataWriteBack {
  /** Metadata flushes start when this share of the L2 cache's tables are dirty. */
  private static final int DIRTY_SHARE = 2;
  /**
   * Metadata flushes also start when this much space is freed but not reusable yet (a freed cluster is reused only
   * once its release is durable): a guest that trims and rewrites then grows the file by about this much, not
   * without bound.
   */
  static final long FREED_FLUSH_BYTES = 32L << 20;

  private final BlockDevice file;
  private final BlockDevice data;
  private final boolean dataFile;
  private final L1Table l1;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  /** The dirty bit of an image with lazy refcounts; null without them. */
  private final DirtyBit lazy;
  /**
   * Taken to count down released clusters and to extend the data file: held shared by every request that works on
   * clusters or writes data.
   */
  private final Lock exclusive;
  /** Queue requests in flight ({@link Qcow2Writer#queued()}), which hold no lock. */
  private final IntSupplier queued;
  /**
   * Where the data file must end for the clusters written past its end: extended at the next metadata write-back
   * (one ftruncate per flush, not per allocating write), before any L2 entry exposes them.
   */
  private long dataEnd;

  /**
   * @param data where guest clusters live: {@code file}, or the external data file
   * @param lazy the dirty bit of an image with lazy refcounts, null without them
   * @param exclusive the exclusive side of the lock that reads and overwrites hold shared
   * @param queued the number of queue requests in flight, which hold no lock
   */
  MetadataWriteBack(BlockDevice file, BlockDevice data, L1Table l1, L2Cache l2, RefcountStore refcounts, DirtyBit lazy,
      Lock exclusive, IntSupplier queued) {
    this.file = file;
    this.data = data;
    this.dataFile = data != file;
    this.l1 = l1;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.lazy = lazy;
    this.exclusive = exclusive;
    this.queued = queued;
  }

  /** The data file must reach at least {@code end} before the next L2 entries are written. */
  void extendDataTo(long end) {
    dataEnd = Math.max(dataEnd, end);
  }

  /** Forgets {@link #extendDataTo}'s end: the flushes reached it, and the file may be cut before it now. */
  void forgetDataEnd() {
    dataEnd = 0;
  }

  /** Makes every completed change durable and the metadata on disk consistent with it. */
  void flush() throws IOException {
    flushMetadata();
    file.flush();
  }

  /**
   * Writes back everything, releases included, in order, until nothing is left dirty; then lets {@code bitmaps}
   * (if any) store themselves through the refcounts and writes back what they allocated and released; then clears
   * the dirty bit of lazy refcounts; for close.
   */
  void flushAll(PersistentBitmaps bitmaps) throws IOException {
    writeBackAll();
    if (bitmaps != null) {
      bitmaps.store(refcounts, this::writeBackAll);
      writeBackAll();
    }
    if (lazy != null) {
      lazy.clear();
    }
  }

  /** Writes back everything, releases included, in order until nothing is left dirty. Under the metadata lock. */
  void writeBackAll() throws IOException {
    extendData();
    do {
      flushOrdered();
      // Frees held back by queue requests in flight (applyFrees) wait for a later write-back: the close comes after
      // every queue was closed, and this thread may be the one that would reap them.
    } while (refcounts.dirty() || l2.dirtyCount() > 0 || refcounts.hasPendingFrees() && queued.getAsInt() == 0);
    file.flush();
  }

  /** The write-back: ordered, or with lazy refcounts only the tables (class comment). Under the metadata lock. */
  void flushMetadata() throws IOException {
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
      // Data writes run without the metadata lock and may extend the file meanwhile: it is resized only while none
      // runs, so the resize never cuts off what one wrote. A queue's writes need not be waited for: they go only
      // inside the file as it is (WritableImageQueue), which this only grows.
      exclusive.lock();
      try {
        if (data.size() < dataEnd) {
          data.resize(dataEnd);
        }
      } finally {
        exclusive.unlock();
      }
    }
  }

  /** Counts down the released clusters, once nothing durable points at them. */
  private void applyFrees() throws IOException {
    if (refcounts.hasPendingFrees()) {
      exclusive.lock();
      try {
        // A queue's requests in flight may still work on a released cluster. Their thread may be this one (a flush
        // between two reaps), so the frees wait for a write-back that finds none in flight rather than for them.
        if (queued.getAsInt() == 0) {
          refcounts.applyFrees();
        }
      } finally {
        exclusive.unlock();
      }
    }
  }

  void flushIfTooDirty() throws IOException {
    if (l2.dirtyCount() * DIRTY_SHARE > l2.capacity() || refcounts.pendingFreeBytes() >= FREED_FLUSH_BYTES) {
      flushMetadata();
    }
  }
}
