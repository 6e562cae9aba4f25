package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.internal.CountingQueue;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The write side of a qcow2 image, split by concern: data writes and allocation ({@link AllocatingWriter}), zeroes
 * and discards ({@link ZeroesAndDiscards}), resizes ({@link ImageResize}), the ordered metadata write-back that keeps
 * the image consistent on disk at every instant ({@link MetadataWriteBack}), all over the L2 entries as {@link
 * ClusterEntries} edits them. This class holds the locks.
 *
 * <p><b>Concurrency:</b> overwrites of clusters the image owns alone (L2 entry with the COPIED flag) run
 * concurrently without the metadata lock. An allocating write, as QEMU's, holds the lock only around its metadata:
 * each run of it is planned under the lock (L2 table made writable, host clusters allocated, its guest clusters held
 * in {@link InFlightAllocations}), its data (copy-on-write included) written without the lock, and its L2 entries set
 * under the lock after the data write returned. Until then the entries are unchanged, so reads see the old
 * contents (backing file, zeroes, the old cluster), and a write-back in between writes no entry that points at
 * unwritten data. A request that would read or change the entries of held clusters (another write's plan, zeroes, a
 * discard, a compressed write) first waits for the allocation it overlaps, and only for it; resizes and the close
 * wait for every one. Everything else that changes metadata holds the lock throughout. Reads, overwrites and the
 * data writes of allocations hold {@link #shared()}, which releasing clusters and extending the data file take
 * exclusively (under the metadata lock), so a cluster is never reused while a request still works on it. No thread
 * waits for the metadata lock while it holds the shared one. A queue's requests ({@link WritableImageQueue}) hold no
 * lock while in flight: they are counted in {@link #queued()} instead, and released clusters are counted down only
 * at a write-back that finds none in flight.
 */
final class Qcow2Writer {
  private final RefcountStore refcounts;
  private final boolean zeroClusters;
  /** The external data file is kept readable as a raw image: see {@link #zeroingExcludesOverwrites}. */
  private final boolean dataFileRaw;
  private final ReentrantLock meta = new ReentrantLock();
  private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
  private final MetadataWriteBack writeBack;
  private final AllocatingWriter writer;
  private final ZeroesAndDiscards zeroes;
  private final ImageResize resize;
  private final InFlightAllocations inFlight = new InFlightAllocations(meta);
  /** Requests of queues in flight: their clusters are in use as if they held {@link #shared()}. */
  private final AtomicInteger queued = new AtomicInteger();
  /**
   * Shrinks draining now: while any does, queues send nothing more below the image ({@link #bypassesImage}). A count,
   * not a flag: one shrink ending must not end another's drain.
   */
  private final AtomicInteger draining = new AtomicInteger();
  private final ClusterEntries entries;

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

  /** Writes back every metadata change in order and flushes the file. */
  @FunctionalInterface
  interface WriteBack {
    void run() throws IOException;
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
    this.refcounts = refcounts;
    this.zeroClusters = version >= 3;
    this.dataFileRaw = dataFileRaw;
    this.entries = new ClusterEntries(file, data, geometry, l1, l2, refcounts, size, inUse.writeLock());
    this.writeBack = new MetadataWriteBack(file, data, l1, l2, refcounts, lazy, inUse.writeLock(), queued::get);
    this.writer = new AllocatingWriter(file, data, geometry, l1, l2, refcounts, entries, writeBack, current,
        zeroStatus, inFlight);
    this.zeroes = new ZeroesAndDiscards(data, dataFileRaw, geometry, l1, zeroClusters, hasBacking, entries, writer,
        writeBack, zeroStatus);
    this.resize = new ImageResize(file, data, dataFileRaw, geometry, l1, l2, refcounts, zeroClusters, entries, writer,
        zeroes, writeBack, new GrowthPreallocation(file, data, geometry, l2, refcounts, entries, writeBack, current, writer));
  }

  /** The lock every read and overwrite holds, so clusters are not released under it. */
  Lock shared() {
    return inUse.readLock();
  }

  /**
   * The count of queue requests in flight ({@link WritableImageQueue}): raised under {@link #shared()} before the
   * request's mapping is looked up, lowered once it completed.
   */
  AtomicInteger queued() {
    return queued;
  }

  /**
   * The host offset where {@code length} bytes at guest {@code offset} can be overwritten in place with no metadata
   * change: clusters that the image alone owns (standard, COPIED, every subcluster written) and that follow each
   * other on the host, one or several (a large request is then one write, as {@link #write} makes it); else -1.
   * Under {@link #shared()}. Always -1 with a raw data file: a queue's overwrite holds no lock while the kernel has
   * it, so a zeroing could not wait for it ({@link #zeroingExcludesOverwrites}). Also -1 while a shrink drains
   * ({@link #bypassesImage}).
   */
  long overwriteHost(long offset, int length) throws IOException {
    return dataFileRaw || draining.get() > 0 ? -1 : writer.overwriteHost(offset, length);
  }

  /**
   * Whether a queue may send a request below the image now, to be in flight with no lock held: not while a shrink
   * drains ({@link #shrink}). Read after the request was counted in {@link #queued()}.
   */
  boolean bypassesImage() {
    return draining.get() == 0;
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

  /**
   * Writes {@code src} at {@code offset}: in place without the metadata lock if the image owns every cluster ({@link
   * AllocatingWriter#writeInPlace}), else run by run (class comment), each planned after waiting for the in-flight
   * allocations it overlaps.
   */
  void write(long offset, ByteBuffer src) throws IOException {
    Lock s = shared();
    s.lock();
    try {
      inside("write", offset, src.remaining());
      if (writer.writeInPlace(offset, src)) {
        return;
      }
    } finally {
      s.unlock();
    }
    long end = offset + src.remaining();
    long pos = offset;
    while (pos < end) {
      AllocatingWriter.Run run;
      InFlightAllocations.Allocation held = null;
      meta.lock();
      try {
        inside("write", pos, end - pos);
        inFlight.awaitNone(pos, writer.runLimit(pos, end));
        run = writer.plan(pos, end, src);
        if (run.changesEntries()) {
          held = inFlight.add(run.clusterStart(), run.clusterEnd());
        }
        // Taken before the metadata lock is released: no release of the run's clusters can come in between.
        s.lock();
      } finally {
        meta.unlock();
      }
      try {
        writer.writeData(run);
      } catch (IOException | RuntimeException | Error e) {
        s.unlock();
        abort(run, held, e);
        throw e;
      }
      s.unlock();
      if (held != null) {
        meta.lock();
        try {
          try {
            writer.publish(run);
          } finally {
            inFlight.remove(held);
          }
          writeBack.flushIfTooDirty();
        } finally {
          meta.unlock();
        }
      }
      pos = run.writeEnd();
    }
  }

  /** Gives back what a run whose data write failed with {@code failure} took, and wakes whoever waits for it. */
  private void abort(AllocatingWriter.Run run, InFlightAllocations.Allocation held, Throwable failure) {
    meta.lock();
    try {
      if (held != null) {
        inFlight.remove(held);
      }
      writer.abort(run);
    } catch (IOException | RuntimeException e) {
      failure.addSuppressed(e);
    } finally {
      meta.unlock();
    }
  }

  /** See {@link AllocatingWriter#writeCompressedCluster}. */
  void writeCompressedCluster(long guest, ByteBuffer data) throws IOException {
    meta.lock();
    try {
      // The cluster starts inside: data is compressed, and an image's last cluster may end past its size.
      inside("write", guest, 1);
      inFlight.awaitNone(guest, guest + 1);
      writer.writeCompressedCluster(guest, data);
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ZeroesAndDiscards#writeZeroes}. */
  void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    meta.lock();
    try {
      inside("writeZeroes", offset, length);
      inFlight.awaitNone(offset, offset + length);
      Lock excluded = zeroingExcludesOverwrites();
      try {
        zeroes.writeZeroes(offset, length, flags);
      } finally {
        if (excluded != null) {
          excluded.unlock();
        }
      }
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ZeroesAndDiscards#discard}. */
  void discard(long offset, long length) throws IOException {
    meta.lock();
    try {
      inside("discard", offset, length);
      inFlight.awaitNone(offset, offset + length);
      Lock excluded = zeroingExcludesOverwrites();
      try {
        zeroes.discard(offset, length);
      } finally {
        if (excluded != null) {
          excluded.unlock();
        }
      }
    } finally {
      meta.unlock();
    }
  }

  /**
   * With a raw data file ({@code data_file_raw}), takes and returns the exclusive side of {@link #shared()}, else
   * returns null. A zeroing or discard writes zeroes into (or discards) the raw data file, then changes the L2
   * entries; an overwrite in place ({@link AllocatingWriter#writeInPlace}) looks its host cluster up once and writes
   * there without the metadata lock. Without exclusion an overwrite that looked up before the entries changed could
   * land after the zeroes: the image would read zeroes, the raw data file the overwrite, two views of one disk that
   * no serial order explains. Overwrites in place hold the shared side from their lookup to their write's return, so
   * the exclusive side orders each wholly before or after the zeroing (queue overwrites, which hold no lock while
   * in flight, never bypass the image on such an image: {@link #overwriteHost}). Without a raw data file a late
   * overwrite lands where only its own (now zero) cluster lives, hidden, and nothing needs excluding. Taken under the
   * metadata lock, after waiting for in-flight allocations (whose data writes hold the shared side).
   */
  private Lock zeroingExcludesOverwrites() {
    if (!dataFileRaw) {
      return null;
    }
    Lock exclusive = inUse.writeLock();
    exclusive.lock();
    return exclusive;
  }

  /** See {@link ZeroesAndDiscards#makeEmpty}. */
  void makeEmpty() throws IOException {
    meta.lock();
    try {
      inFlight.awaitAll();
      zeroes.makeEmpty();
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ImageResize#grow}. */
  void grow(long newSize, boolean hideBacking, Preallocation mode) throws IOException {
    meta.lock();
    try {
      inFlight.awaitAll();
      resize.grow(newSize, hideBacking, mode);
    } finally {
      meta.unlock();
    }
  }

  /**
   * See {@link ImageResize#shrink}. Drained first, as QEMU drains a node before it truncates it: requests that passed
   * the guard's range check under the old size may still be on their way to the part the shrink drops, and one that
   * landed after the cut (a data file cut to the new size, a cluster released) would leave a state no serial order
   * explains (measured: an external data file grown back past the new size, ShrinkRaceIT). So: queues stop sending
   * requests below the image and those in flight are reaped (no lock held while waiting: their owners may need the
   * metadata lock meanwhile), then in-flight allocations finish, then the exclusive side of {@link #shared()} waits
   * for every read, overwrite in place and allocation data write and holds off new ones until the shrink is done.
   * Requests that come after find the new size ({@link #inside}).
   */
  void shrink(long newSize) throws IOException {
    draining.incrementAndGet();
    try {
      // With draining set, no request is sent below any more: a request counts itself before it reads the flag,
      // and this sets the flag before it reads the count.
      CountingQueue.awaitNone(queued, "resize");
      meta.lock();
      try {
        inFlight.awaitAll();
        Lock exclusive = inUse.writeLock();
        exclusive.lock();
        try {
          resize.shrink(newSize);
        } finally {
          exclusive.unlock();
        }
      } finally {
        meta.unlock();
      }
    } finally {
      draining.decrementAndGet();
    }
  }

  /**
   * Refuses a request past the end as the guard does: it passed the guard's check before a shrink changed the size.
   * Under {@link #shared()} or the metadata lock: a shrink holds both while it changes the size.
   */
  private void inside(String op, long offset, long length) throws BlockDeviceException {
    long size = entries.size();
    if (offset > size || length > size - offset) {
      throw new BlockDeviceException(op.equals("discard") ? BlockError.EINVAL : BlockError.ENOSPC, op + ": offset "
          + offset + " length " + length + " ends beyond the image (expected: end <= size " + size + ", which a"
          + " shrink set while the request was on its way)");
    }
  }

  /** See {@link MetadataWriteBack#flush}. */
  void flush() throws IOException {
    meta.lock();
    try {
      writeBack.flush();
    } finally {
      meta.unlock();
    }
  }

  /** See {@link MetadataWriteBack#flushAll}. */
  void flushAll(PersistentBitmaps bitmaps) throws IOException {
    meta.lock();
    try {
      inFlight.awaitAll();
      writeBack.flushAll(bitmaps);
    } finally {
      meta.unlock();
    }
  }
}
