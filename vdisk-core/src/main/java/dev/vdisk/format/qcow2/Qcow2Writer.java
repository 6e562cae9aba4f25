package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
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
 * concurrently without the metadata lock; everything that changes metadata holds it. Reads and overwrites hold
 * {@link #shared()}, which releasing clusters takes exclusively, so a cluster is never reused while a request still
 * works on it.
 */
final class Qcow2Writer {
  private final RefcountStore refcounts;
  private final boolean zeroClusters;
  private final ReentrantLock meta = new ReentrantLock();
  private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
  private final MetadataWriteBack writeBack;
  private final AllocatingWriter writer;
  private final ZeroesAndDiscards zeroes;
  private final ImageResize resize;

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
    ClusterEntries entries = new ClusterEntries(file, data, geometry, l1, l2, refcounts, size);
    this.writeBack = new MetadataWriteBack(file, data, l1, l2, refcounts, lazy, inUse.writeLock());
    this.writer = new AllocatingWriter(file, data, geometry, l1, l2, refcounts, entries, writeBack, current);
    this.zeroes = new ZeroesAndDiscards(data, dataFileRaw, geometry, l1, zeroClusters, hasBacking, entries, writer,
        writeBack, zeroStatus);
    this.resize = new ImageResize(file, data, dataFileRaw, geometry, l1, l2, refcounts, zeroClusters, entries, writer,
        zeroes, writeBack);
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

  /** See {@link AllocatingWriter#writeInPlace} (without the metadata lock) and {@link AllocatingWriter#writeLocked}. */
  void write(long offset, ByteBuffer src) throws IOException {
    Lock s = shared();
    s.lock();
    try {
      if (writer.writeInPlace(offset, src)) {
        return;
      }
    } finally {
      s.unlock();
    }
    meta.lock();
    try {
      writer.writeLocked(offset, src);
      writeBack.flushIfTooDirty();
    } finally {
      meta.unlock();
    }
  }

  /** See {@link AllocatingWriter#writeCompressedCluster}. */
  void writeCompressedCluster(long guest, ByteBuffer data) throws IOException {
    meta.lock();
    try {
      writer.writeCompressedCluster(guest, data);
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ZeroesAndDiscards#writeZeroes}. */
  void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    meta.lock();
    try {
      zeroes.writeZeroes(offset, length, flags);
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ZeroesAndDiscards#discard}. */
  void discard(long offset, long length) throws IOException {
    meta.lock();
    try {
      zeroes.discard(offset, length);
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ZeroesAndDiscards#makeEmpty}. */
  void makeEmpty() throws IOException {
    meta.lock();
    try {
      zeroes.makeEmpty();
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ImageResize#grow}. */
  void grow(long newSize, boolean hideBacking) throws IOException {
    meta.lock();
    try {
      resize.grow(newSize, hideBacking);
    } finally {
      meta.unlock();
    }
  }

  /** See {@link ImageResize#shrink}. */
  void shrink(long newSize) throws IOException {
    meta.lock();
    try {
      resize.shrink(newSize);
    } finally {
      meta.unlock();
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
      writeBack.flushAll(bitmaps);
    } finally {
      meta.unlock();
    }
  }
}
