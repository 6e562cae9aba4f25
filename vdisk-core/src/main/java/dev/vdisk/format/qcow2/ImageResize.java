package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Geometry.roundUp;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * Resizes of a writable image ({@link Qcow2Writer}) as {@code qemu-img resize} makes them: growing (the L1 table
 * moved if it must, the grown range hidden from a longer backing file) and shrinking (clusters past the end released,
 * the file cut), each step durable before the next. Every method runs under the writer's metadata lock.
 */
final class ImageResize {
  private final BlockDevice file;
  private final BlockDevice data;
  private final boolean dataFile;
  private final boolean dataFileRaw;
  private final Geometry geometry;
  private final L1Table l1;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  private final boolean zeroClusters;
  private final ClusterEntries entries;
  private final AllocatingWriter writer;
  private final ZeroesAndDiscards zeroes;
  private final MetadataWriteBack writeBack;
  private final GrowthPreallocation preallocation;

  /**
   * @param data where guest clusters live: {@code file}, or the external data file
   * @param dataFileRaw the external data file is kept readable as a raw image (data_file_raw)
   * @param zeroClusters the image has zero clusters (version 3)
   * @param preallocation allocates the grown clusters of a preallocated growth (and a raw data file's)
   */
  ImageResize(BlockDevice file, BlockDevice data, boolean dataFileRaw, Geometry geometry, L1Table l1, L2Cache l2,
      RefcountStore refcounts, boolean zeroClusters, ClusterEntries entries, AllocatingWriter writer,
      ZeroesAndDiscards zeroes, MetadataWriteBack writeBack, GrowthPreallocation preallocation) {
    this.file = file;
    this.data = data;
    this.dataFile = EncryptingDevice.external(file, data);
    this.dataFileRaw = dataFileRaw;
    this.geometry = geometry;
    this.l1 = l1;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.zeroClusters = zeroClusters;
    this.entries = entries;
    this.writer = writer;
    this.zeroes = zeroes;
    this.writeBack = writeBack;
    this.preallocation = preallocation;
  }

  /**
   * Grows the virtual size to {@code newSize}: first, if the L1 table is too small, a larger copy is written
   * elsewhere and the header switched to it (one 12-byte write of l1_size and l1_table_offset), then the grown
   * range's clusters are allocated as {@code mode} says ({@link GrowthPreallocation}; metadata always with a raw
   * data file), then, with {@code hideBacking}, the grown range is zeroed ({@link #zeroGrownRange}) unless
   * falloc/full already made it zeroes, then the header's size; each step durable before the next, so a crash
   * leaves the old size or the new (with leaked clusters at worst), and the new never over the backing file's bytes.
   *
   * @param hideBacking the backing file is longer than the old size, so its bytes would show in the grown range
   */
  void grow(long newSize, boolean hideBacking, Preallocation mode) throws IOException {
    long zeroStart = roundUp(entries.size(), geometry.subclusterSize());
    // QEMU preallocates the metadata of a raw data file's new part too (guest offset = data file offset), so that
    // the mapping stays 1:1 as data_file_raw promises.
    Preallocation p = dataFileRaw && mode == Preallocation.OFF ? Preallocation.METADATA : mode;
    // falloc/full with data in the image file: the file grows as QEMU's truncate with BDRV_REQ_ZERO_WRITE grows
    // it, and its zeroes hide the backing file (no zero clusters needed, so a version 2 image may grow so too).
    boolean fileZeroes = !dataFile && (p == Preallocation.FALLOC || p == Preallocation.FULL);
    if (hideBacking && newSize > zeroStart && !zeroClusters && !fileZeroes) {
      // Checked first, so the refusal leaves the image untouched (QEMU fails after growing the L1 table).
      throw new BlockDeviceException(BlockError.ENOTSUP, "resize: Failed to zero out new clusters: the backing"
          + " file is longer than the old size " + entries.size() + " and a version 2 image has no zero clusters to hide it"
          + " with (expected: compat=1.1, as in QEMU)");
    }
    long needed = geometry.l1EntriesFor(newSize);
    if (needed > l1.size()) {
      if (needed * 8 > Qcow2Header.MAX_L1_BYTES) {
        throw new BlockDeviceException(BlockError.EINVAL, "resize: size " + newSize + " needs an L1 table of "
            + needed * 8 + " bytes (expected: at most " + Qcow2Header.MAX_L1_BYTES + ", QEMU's limit)");
      }
      writeBack.flushMetadata();
      ByteBuffer table = l1.grown((int) needed, geometry.clusterSize());
      int clusters = table.capacity() >>> geometry.clusterBits();
      long at = refcounts.allocate(clusters);
      writeBack.flushMetadata();
      // Only the entries, as QEMU writes them: the rest of the cluster is never read (a hole, or past the file's end).
      file.write(at, table.limit((int) needed * 8), Set.of());
      file.flush();
      file.write(Qcow2Header.L1_SIZE_FIELD, ByteBuffer.allocate(12).putInt((int) needed).putLong(at).flip(), Set.of());
      file.flush();
      long oldOffset = l1.offset();
      int oldClusters = (int) Math.ceilDiv(l1.size() * 8L, geometry.clusterSize());
      l1.moveTo(at, (int) needed);
      if (oldClusters > 0) {
        refcounts.freeKeepingBytes(oldOffset, oldClusters);
        // Nothing durable names the old table any more: free now, as QEMU frees it, so the next allocation (an L2
        // table of the grown part) may take its place.
        writeBack.flushMetadata();
      }
    }
    if (fileZeroes) {
      preallocation.data(entries.size(), newSize, p, hideBacking);
    } else if (p != Preallocation.OFF) {
      preallocation.metadata(entries.size(), newSize, p);
    }
    if (hideBacking && !fileZeroes) {
      zeroGrownRange(newSize, zeroStart);
    }
    // The new part's metadata is durable before the size exposes it.
    writeBack.flushMetadata();
    file.write(Qcow2Header.SIZE_FIELD, ByteBuffer.allocate(8).putLong(newSize).flip(), Set.of());
    file.flush();
    entries.size(newSize);
    if (p == Preallocation.OFF) {
      // Preallocation grew the data file as far as its clusters reach, which QEMU leaves as it is.
      resizeDataFile(newSize);
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
      zeroes.zeroize(zeroStart, newSize - zeroStart, Set.of());
    }
    long head = Math.min(zeroStart, newSize) - entries.size();
    if (head > 0) {
      writer.writeLocked(entries.size(), ByteBuffer.allocate((int) head));
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
    writeBack.flushMetadata();
    file.write(Qcow2Header.SIZE_FIELD, ByteBuffer.allocate(8).putLong(newSize).flip(), Set.of());
    file.flush();
    long oldSize = entries.size();
    entries.size(newSize);
    long keptTables = geometry.l1EntriesFor(newSize);
    long tablesEnd = Math.min(roundUp(oldSize, geometry.clusterSize()), keptTables * geometry.bytesPerL2());
    for (long c = roundUp(newSize, geometry.clusterSize()); c < tablesEnd; c += geometry.clusterSize()) {
      if (l1.l2Offset(geometry.l1Index(c)) != 0 && (entries.entryWord(c) != 0 || entries.entryBitmap(c) != 0)) {
        entries.setEntry(c, 0, 0);
      }
    }
    for (int i = (int) keptTables; i < l1.size(); i++) {
      long table = l1.l2Offset(i);
      if (table == 0) {
        continue;
      }
      long[] words = l2.get(table);
      for (int k = 0; k < words.length; k += geometry.wordsPerEntry()) {
        entries.release(L2Cache.word(words, k), 0);
      }
      l1.set(i, 0);
      l2.drop(table);
      refcounts.free(table, 1);
    }
    // L2 and L1 entries, then the releases; then the table without the empty blocks, then their release.
    writeBack.flushMetadata();
    if (refcounts.dropEmptyBlocks()) {
      writeBack.flushMetadata();
      writeBack.flushMetadata();
    }
    file.flush();
    writeBack.forgetDataEnd(); // extended by the flushes above; the file may end before it now
    long end = refcounts.trimEnd();
    if (end < file.size()) {
      file.resize(end);
      file.flush();
    }
    resizeDataFile(newSize);
  }

  /** An external data file follows the virtual size, as QEMU truncates it. */
  private void resizeDataFile(long newSize) throws IOException {
    if (dataFile && data.size() != newSize) {
      data.resize(newSize);
      data.flush();
    }
  }
}
