package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Geometry.roundUp;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * Zeroes and discards of a writable image ({@link Qcow2Writer}), as QEMU 7.2 sets whole (sub)clusters: zero clusters
 * and subclusters, zeroes written as data where neither fits, discards of whole clusters, and qemu-img commit's
 * emptying of the overlay. Every method runs under the writer's metadata lock.
 */
final class ZeroesAndDiscards {
  /** Bytes of zeroes written per request where zeroes must be written as data. */
  private static final int ZERO_CHUNK = 1 << 20;

  private final BlockDevice data;
  private final boolean dataFileRaw;
  private final Geometry geometry;
  private final L1Table l1;
  private final boolean zeroClusters;
  private final boolean hasBacking;
  private final ClusterEntries entries;
  private final AllocatingWriter writer;
  private final MetadataWriteBack writeBack;
  private final Qcow2Writer.ZeroStatus zeroStatus;

  /**
   * @param data where guest clusters live: the image file, or the external data file
   * @param dataFileRaw the external data file is kept readable as a raw image (data_file_raw)
   * @param zeroClusters the image has zero clusters (version 3)
   * @param zeroStatus block status of guest bytes, without taking the writer's shared lock
   */
  ZeroesAndDiscards(BlockDevice data, boolean dataFileRaw, Geometry geometry, L1Table l1, boolean zeroClusters,
      boolean hasBacking, ClusterEntries entries, AllocatingWriter writer, MetadataWriteBack writeBack,
      Qcow2Writer.ZeroStatus zeroStatus) {
    this.data = data;
    this.dataFileRaw = dataFileRaw;
    this.geometry = geometry;
    this.l1 = l1;
    this.zeroClusters = zeroClusters;
    this.hasBacking = hasBacking;
    this.entries = entries;
    this.writer = writer;
    this.writeBack = writeBack;
    this.zeroStatus = zeroStatus;
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
    writeBack.flushIfTooDirty();
  }

  /** One request of the block layer's split: QEMU's {@code qcow2_co_pwrite_zeroes}, with its fallback to writes. */
  private void zeroPiece(long offset, long length, Set<WriteFlag> flags) throws IOException {
    int unit = geometry.subclusterSize();
    long head = offset & (unit - 1);
    long tail = roundUp(offset + length, unit) - (offset + length);
    if (offset + length == entries.size()) {
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
      writer.writeLocked(pos, ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, offset + length - pos)));
    }
  }

  /** True if the subcluster at {@code guest} is unallocated or zero, plain or with storage. */
  private boolean subclusterUnallocatedOrZero(long guest) throws IOException {
    long word = entries.entryWord(guest);
    return switch (entries.kind(word)) {
      case UNALLOCATED, ZERO_PLAIN, ZERO_ALLOC -> true;
      case COMPRESSED -> false;
      case NORMAL -> geometry.extendedL2() && (entries.entryBitmap(guest) >>> geometry.subcluster(guest) & 1) == 0;
    };
  }

  /**
   * QEMU's {@code qcow2_subcluster_zeroize} of a subcluster-aligned range (its end may be the image's end); false
   * where QEMU answers ENOTSUP (the caller writes zeroes instead).
   */
  boolean zeroize(long offset, long length, Set<WriteFlag> flags) throws IOException {
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
    long tail = end >= entries.size() ? 0 : end - Math.max(pos, end & ~geometry.clusterMask());
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
    return entries.kind(entries.entryWord(guest)) == L2Kind.COMPRESSED;
  }

  /** QEMU's {@code zero_l2_subclusters}: the subclusters of {@code [guest, guest + length)} in one cluster read as zeroes. */
  private void zeroSubclusters(long guest, long length) throws IOException {
    entries.writableTable(geometry.l1Index(guest));
    int first = geometry.subcluster(guest);
    int last = geometry.subcluster(guest + length - 1);
    long range = Geometry.allocRange(first, last + 1);
    long old = entries.entryBitmap(guest);
    long bitmap = (old | range << 32) & ~range;
    if (bitmap != old) {
      entries.setEntry(guest, entries.entryWord(guest), bitmap);
    }
  }

  /** QEMU's {@code zero_in_l2_slice} for one cluster. */
  private void zeroCluster(long guest, boolean trim) throws IOException {
    entries.writableTable(geometry.l1Index(guest));
    long old = entries.entryWord(guest);
    L2Kind kind = entries.kind(old);
    boolean unmap = kind == L2Kind.COMPRESSED || trim && kind != L2Kind.UNALLOCATED && kind != L2Kind.ZERO_PLAIN;
    long word = unmap ? 0 : old;
    long bitmap = 0;
    if (geometry.extendedL2()) {
      bitmap = Geometry.SUBCLUSTERS_ZERO;
    } else {
      word |= Geometry.ZERO;
    }
    if (word != old || geometry.extendedL2() && bitmap != entries.entryBitmap(guest)) {
      entries.setEntry(guest, word, bitmap);
    }
  }

  /**
   * Discards as QEMU 7.2 does ({@code qcow2_co_pdiscard}): only whole clusters, and the partial cluster at the end
   * of the image; on a version 2 image with a backing file nothing (QEMU's ENOTSUP, which discard ignores).
   */
  void discard(long offset, long length) throws IOException {
    long first = roundUp(offset, geometry.clusterSize());
    long end = offset + length;
    long last = end == entries.size() && (end & ~geometry.clusterMask()) >= offset ? end : end & ~geometry.clusterMask();
    if (hasBacking && !zeroClusters || first >= last) {
      return;
    }
    discardClusters(first, last);
    writeBack.flushIfTooDirty();
  }

  /**
   * QEMU's {@code qcow2_cluster_discard} without full discard over the clusters of {@code [first, end)}: an allocated
   * cluster, or any cluster of an image with a backing file, becomes a zero cluster (version 3) or unallocated
   * (version 2); unallocated clusters of an image without one stay as they are. Under the metadata lock.
   */
  private void discardClusters(long first, long end) throws IOException {
    for (long c = first; c < end; c += geometry.clusterSize()) {
      entries.writableTable(geometry.l1Index(c));
      long old = entries.entryWord(c);
      long oldBitmap = geometry.extendedL2() ? entries.entryBitmap(c) : 0;
      long word = old;
      long bitmap = oldBitmap;
      L2Kind kind = entries.kind(old);
      if (hasBacking || kind == L2Kind.NORMAL || kind == L2Kind.ZERO_ALLOC || kind == L2Kind.COMPRESSED) {
        if (geometry.extendedL2()) {
          word = 0;
          bitmap = Geometry.SUBCLUSTERS_ZERO;
        } else {
          word = zeroClusters ? Geometry.ZERO : 0;
        }
      }
      if (word != old || bitmap != oldBitmap) {
        entries.setEntry(c, word, bitmap);
      }
    }
  }

  /**
   * QEMU's {@code qcow2_make_empty} as its general path does it (a full discard of every cluster): every L2 entry of
   * the active layer becomes unallocated, so the backing image shows through; the L2 tables stay. Durable on
   * return, the entries before the releases as in every discard, so a crash leaves leaks at worst.
   */
  void makeEmpty() throws IOException {
    for (int i = 0; i < l1.size(); i++) {
      if (l1.l2Offset(i) == 0) {
        continue;
      }
      long from = (long) i * geometry.bytesPerL2();
      long to = Math.min(roundUp(entries.size(), geometry.clusterSize()), from + geometry.bytesPerL2());
      for (long c = from; c < to; c += geometry.clusterSize()) {
        if (entries.entryWord(c) != 0 || entries.entryBitmap(c) != 0) {
          entries.setEntry(c, 0, 0);
        }
      }
    }
    writeBack.writeBackAll();
  }
}
