package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.corrupt;
import static dev.vdisk.format.qcow2.Qcow2Errors.hex;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The refcounts of a writable image: a {@link RefcountAllocator} (which decides where clusters and new refcount
 * structures go) over refcount blocks cached here and written back in crash-safe order, the releases that wait for
 * durable metadata, and the packing of compressed clusters.
 *
 * <p><b>Write ordering.</b> Nothing here reaches the file by itself (but for an empty new refcount block, written at
 * once to take its space): {@link #writeBlocks} and {@link #writeTable} are called by the image's flush, blocks first
 * (followed by a flush of the file), then the table, then (if the table moved) the header. So a refcount that makes a
 * cluster used is durable before any table entry or L2 entry that points at it, and a new table is complete on disk
 * before the header names it. Frees are only recorded ({@link #free}) and applied by the image's flush once the
 * entries that referenced the clusters are durable ({@link #applyFrees}), so a crash leaves a cluster leaked, never
 * referenced with a refcount of 0, and a freed cluster is reused only after nothing durable points at it. The old
 * table's clusters, after the table moved, are such a recorded free: released once the header names the new one.
 *
 * <p><b>Memory:</b> the table (at most 8 MiB, QEMU's limit) and at most {@code maxBlocks} cached blocks plus the
 * dirty ones written at the next flush. Not thread-safe: the image's metadata lock guards every call.
 */
final class RefcountStore implements RefcountBlocks {
  private final BlockDevice file;
  private final HostReader reader;
  private final RefcountWidth width;
  private final int clusterBits;
  private final int maxBlocks;
  private final RefcountAllocator allocator;
  private boolean tableDirty;
  private boolean tableMoved;
  private final Map<Long, ByteBuffer> blocks = new LinkedHashMap<>(16, 0.75f, true);
  private final Set<Long> dirtyBlocks = new HashSet<>();
  private final List<Long> pendingFrees = new ArrayList<>();
  /** Clusters among the pending frees that keep their bytes when free ({@link #freeKeepingBytes}). */
  private final Set<Long> kept = new HashSet<>();
  /** Where {@link #allocateBytes} packs next: inside a host cluster that compressed data partly fills, or 0. */
  private long byteCursor;

  RefcountStore(BlockDevice file, Qcow2Header header, RefcountTable table, int maxBlocks) throws IOException {
    this.file = file;
    this.reader = new HostReader(file, "image file");
    this.width = new RefcountWidth(header.refcountOrder());
    this.clusterBits = header.clusterBits();
    this.maxBlocks = Math.max(2, maxBlocks);
    long[] entries = new long[table.size()];
    for (int i = 0; i < table.size(); i++) {
      entries[i] = table.entry(i);
    }
    this.allocator = new RefcountAllocator(this, clusterBits, width, header.refcountTableOffset(), entries,
        Math.ceilDiv(file.size(), 1L << clusterBits), true);
  }

  /** {@link RefcountAllocator#guard}. */
  void guard(MetadataOverlap other) {
    allocator.guard(other);
  }

  /** The refcount of host cluster {@code cluster} (0 where no block covers it). */
  long get(long cluster) throws IOException {
    return allocator.refcount(cluster);
  }

  /**
   * How many clusters below {@code clusters} have a non-zero refcount, counting no further than {@code stopAt}: the
   * scan of QEMU's metadata preallocation probe ({@link MetadataPreallocation}).
   */
  long countInUse(long clusters, long stopAt) throws IOException {
    long count = 0;
    for (long c = 0; c < clusters && count < stopAt; c++) {
      if (get(c) != 0) {
        count++;
      }
    }
    return count;
  }

  /**
   * Allocates {@code n} contiguous free clusters, each with refcount 1 ({@link RefcountAllocator#allocClusters}).
   *
   * @return the host offset of the first
   */
  long allocate(int n) throws IOException {
    return allocator.allocClusters((long) n << clusterBits);
  }

  /**
   * Allocates up to {@code n} free clusters in a row from {@code hostOffset} on ({@link
   * RefcountAllocator#allocClustersAt}).
   *
   * @return the clusters allocated, 0 if the first one is taken
   */
  long allocateAt(long hostOffset, long n) throws IOException {
    return allocator.allocClustersAt(hostOffset, n);
  }

  /**
   * Places refcount structures at {@code startOffset} that cover themselves and {@code additionalClusters} after
   * them, sized exactly, and moves the table there ({@link RefcountAllocator#refcountArea}); the caller's next
   * write-back makes them durable and the header name them.
   *
   * @return the offset after the new structures
   */
  long refcountArea(long startOffset, long additionalClusters) throws IOException {
    return allocator.refcountArea(startOffset, additionalClusters, true, 0, 0);
  }

  /**
   * The last cluster with a refcount, or -1 ({@link RefcountAllocator#lastUsedCluster}): QEMU's {@code
   * qcow2_get_last_cluster} below {@code clusters} (the file's length), and beyond it too where clusters were
   * allocated past the file's end and not written yet (QEMU's file always reaches them).
   */
  long lastUsedCluster(long clusters) throws IOException {
    return allocator.lastUsedCluster(Math.max(clusters, allocator.endCluster()));
  }

  /**
   * Gives back {@code n} clusters from {@code hostOffset} that {@link #allocate} returned and nothing points at (an
   * allocation whose data write failed): their refcounts drop to 0 now, so nothing is leaked and no later flush
   * has anything of theirs to write.
   */
  void unallocate(long hostOffset, int n) throws IOException {
    for (int i = 0; i < n; i++) {
      adjust(hostOffset + ((long) i << clusterBits), -1);
    }
  }

  /** Adds {@code delta} (+1 or -1) to the refcount of the cluster at {@code hostOffset}, now. */
  void adjust(long hostOffset, int delta) throws IOException {
    long cluster = hostOffset >>> clusterBits;
    long value = get(cluster);
    long next = value + delta;
    if (Long.compareUnsigned(value, width.max()) == 0 && delta > 0 || value == 0 && delta < 0) {
      throw corrupt("refcount of cluster " + cluster, Long.toUnsignedString(value),
          delta > 0 ? "below the maximum " + Long.toUnsignedString(width.max()) : "at least 1 before a release");
    }
    allocator.setRefcount(cluster, next);
    if (next == 0 && byteCursor >>> clusterBits == cluster) {
      byteCursor = 0;
    }
  }

  /**
   * Allocates {@code size} bytes (1 to a cluster) for one compressed cluster, packed after the previous ones as QEMU's
   * qcow2_alloc_bytes packs them: in the host cluster the last allocation left partly free if they fit (or if the
   * next free cluster follows it, across the boundary), else from the start of a new cluster. Every host cluster the
   * bytes touch gains one reference, so a host cluster's refcount counts the compressed clusters in it.
   *
   * @return the host offset of the first byte
   */
  long allocateBytes(int size) throws IOException {
    long clusterSize = 1L << clusterBits;
    long offset = byteCursor;
    if (offset != 0 && Long.compareUnsigned(get(offset >>> clusterBits), width.max()) == 0) {
      offset = 0;
    }
    long freeInCluster = offset == 0 ? 0 : clusterSize - (offset & (clusterSize - 1));
    if (offset != 0 && size <= freeInCluster) {
      adjust(offset, 1);
    } else {
      long fresh = allocate(1);
      if (offset != 0 && fresh == offset - (offset & (clusterSize - 1)) + clusterSize) {
        adjust(offset, 1);
      } else {
        offset = fresh;
      }
    }
    byteCursor = ((offset + size) & (clusterSize - 1)) == 0 ? 0 : offset + size;
    return offset;
  }

  /**
   * Gives back the {@code size} bytes from {@code offset} that the last {@link #allocateBytes} returned and nothing
   * points at (a compressed write that failed): each host cluster they touch loses the reference it gained, so nothing
   * is leaked, and the next compressed cluster is packed at {@code offset} again while its host cluster is in use.
   */
  void unallocateBytes(long offset, int size) throws IOException {
    long first = offset >>> clusterBits;
    for (long c = first; c <= (offset + size - 1) >>> clusterBits; c++) {
      adjust(c << clusterBits, -1);
    }
    byteCursor = (offset & ((1L << clusterBits) - 1)) != 0 && get(first) != 0 ? offset : 0;
  }

  /**
   * Sets the refcount of {@code cluster} to {@code value} now (a repair's fix, qemu-img check -r): the cluster's
   * block must exist. A cluster that drops to 0 is discarded in the file, as QEMU discards it.
   */
  void repair(long cluster, long value) throws IOException {
    allocator.setRefcount(cluster, value);
    if (value == 0) {
      long at = cluster << clusterBits;
      if (file.capabilities().discard() != Support.NONE && at < file.size()) {
        file.discard(at, Math.min(1L << clusterBits, file.size() - at));
      }
    }
  }

  /** Records that one reference to each of {@code clusters} clusters from {@code hostOffset} is gone. */
  void free(long hostOffset, int clusters) {
    for (int i = 0; i < clusters; i++) {
      pendingFrees.add((hostOffset >>> clusterBits) + i);
    }
  }

  /**
   * {@link #free} for metadata QEMU frees without a discard ({@code QCOW2_DISCARD_OTHER}: an old L1 or refcount
   * table): once free, the clusters keep their bytes and blocks in the file, as in qemu-img's.
   */
  void freeKeepingBytes(long hostOffset, int clusters) {
    free(hostOffset, clusters);
    keepBytes(hostOffset, clusters);
  }

  /** Lets the next recorded free of each of {@code clusters} clusters from {@code hostOffset} keep its bytes. */
  void keepBytes(long hostOffset, int clusters) {
    for (int i = 0; i < clusters; i++) {
      kept.add((hostOffset >>> clusterBits) + i);
    }
  }

  boolean hasPendingFrees() {
    return !pendingFrees.isEmpty();
  }

  /** The space of the recorded frees: freed, not reusable before {@link #applyFrees}. */
  long pendingFreeBytes() {
    return (long) pendingFrees.size() << clusterBits;
  }

  /**
   * Applies the recorded frees: call only once no durable metadata points at the clusters any more. Clusters whose
   * refcount drops to 0 are discarded in the file, so the space returns to the host: one discard per run of
   * neighbouring clusters (a 1 GiB trim is one fallocate, not 16,384).
   */
  void applyFrees() throws IOException {
    List<Long> frees = List.copyOf(pendingFrees);
    pendingFrees.clear();
    long[] unused = new long[frees.size()];
    int n = 0;
    for (long cluster : frees) {
      adjust(cluster << clusterBits, -1);
      boolean keep = kept.remove(cluster);
      if (get(cluster) == 0 && !keep) {
        unused[n++] = cluster;
      }
    }
    if (n == 0 || file.capabilities().discard() == Support.NONE) {
      return;
    }
    Arrays.sort(unused, 0, n);
    long size = file.size();
    for (int i = 0; i < n; ) {
      int j = i + 1;
      while (j < n && unused[j] <= unused[j - 1] + 1) {
        j++;
      }
      long at = unused[i] << clusterBits;
      long end = Math.min((unused[j - 1] + 1) << clusterBits, size);
      if (at < end) {
        file.discard(at, end - at);
      }
      i = j;
    }
  }

  /**
   * Removes from the table the refcount blocks that count no cluster but possibly themselves ({@link
   * RefcountAllocator#dropEmptyBlocks}): the table is marked for writing and a block counted elsewhere is recorded as
   * freed, so the caller's flush writes the table before the blocks' clusters are counted down. Returns whether any
   * went.
   */
  boolean dropEmptyBlocks() throws IOException {
    long[] countedElsewhere = allocator.dropEmptyBlocks();
    if (countedElsewhere == null) {
      return false;
    }
    for (long offset : countedElsewhere) {
      free(offset, 1);
    }
    return true;
  }

  /**
   * One past the last cluster with a non-zero refcount, in bytes ({@code qcow2_get_last_cluster}): where the file may
   * end ({@link RefcountAllocator#trimEnd}).
   */
  long trimEnd() throws IOException {
    return allocator.trimEnd();
  }

  /** True if the table moved and the header does not name the new one yet. */
  boolean tableMoved() {
    return tableMoved;
  }

  /** True if blocks or the table wait to be written. */
  boolean dirty() {
    return !dirtyBlocks.isEmpty() || tableDirty;
  }

  /**
   * Makes the pending refcount changes durable in the order that keeps a crash harmless: the changed blocks, a
   * flush, then a changed table, a flush, then (if the table moved) the header fields naming it, a flush.
   *
   * @return whether blocks were written (and flushed)
   */
  boolean writeBack() throws IOException {
    boolean blocksWritten = writeBlocks();
    if (blocksWritten) {
      file.flush();
    }
    if (writeTable()) {
      file.flush();
      ByteBuffer moved = takeMovedHeaderFields();
      if (moved != null) {
        file.write(Qcow2Header.REFCOUNT_TABLE_OFFSET_FIELD, moved, Set.of());
        file.flush();
      }
    }
    return blocksWritten;
  }

  /** Writes the changed refcount blocks; returns whether there were any. The caller flushes the file next. */
  boolean writeBlocks() throws IOException {
    if (dirtyBlocks.isEmpty()) {
      return false;
    }
    for (long offset : dirtyBlocks.stream().sorted().toList()) {
      file.write(offset, blocks.get(offset).duplicate().clear(), Set.<WriteFlag>of());
    }
    dirtyBlocks.clear();
    trim();
    return true;
  }

  /** Writes the table if it changed, after {@link #writeBlocks} and a flush; returns whether it did. */
  boolean writeTable() throws IOException {
    if (!tableDirty) {
      return false;
    }
    ByteBuffer b = ByteBuffer.allocate(allocator.tableClusters() << clusterBits);
    allocator.putTable(b);
    file.write(allocator.tableOffset(), b, Set.of());
    tableDirty = false;
    return true;
  }

  /**
   * If the table moved since the last call, its header fields: bytes 48-59 (refcount_table_offset and
   * refcount_table_clusters), to be written once the table is durable; else null.
   */
  ByteBuffer takeMovedHeaderFields() {
    if (!tableMoved) {
      return null;
    }
    tableMoved = false;
    return ByteBuffer.allocate(12).putLong(allocator.tableOffset()).putInt(allocator.tableClusters()).flip();
  }

  @Override
  public ByteBuffer load(long index, long offset) throws IOException {
    ByteBuffer b = blocks.get(offset);
    if (b == null) {
      if (offset < 0) {
        // Past what a read can address (QEMU's read fails with EIO there).
        throw new BlockDeviceException(BlockError.EIO, "refcount table entry " + index + ": refcount block offset "
            + hex(offset) + " (expected: below 2^63, inside the image file)");
      }
      if ((offset & ((1L << clusterBits) - 1)) != 0) {
        throw corrupt("refcount table entry " + index + ": refcount block offset", hex(offset),
            "a multiple of the cluster size " + (1 << clusterBits));
      }
      b = ByteBuffer.allocate(1 << clusterBits);
      reader.readData(offset, b);
      b.clear();
      blocks.put(offset, b);
      // Never the block just read: the caller may be about to change it (a change to an evicted copy would be lost).
      trim(offset);
    }
    return b;
  }

  @Override
  public ByteBuffer fresh(long offset, boolean reserve) throws IOException {
    if (reserve) {
      // Written (empty) at once, as QEMU writes a new refcount block: its disk space is taken now, so a full disk fails
      // this allocation, which changed nothing yet, rather than every later flush. Nothing points at the cluster.
      file.write(offset, ByteBuffer.allocate(1 << clusterBits), Set.of());
    }
    ByteBuffer b = ByteBuffer.allocate(1 << clusterBits);
    blocks.put(offset, b);
    dirtyBlocks.add(offset);
    return b;
  }

  @Override
  public void reserve(long offset, long length) throws IOException {
    ByteBuffer zeroes = ByteBuffer.allocate(1 << clusterBits);
    for (long at = offset; at < offset + length; at += zeroes.capacity()) {
      file.write(at, zeroes.clear(), Set.of());
    }
  }

  @Override
  public void changed(long offset) {
    dirtyBlocks.add(offset);
  }

  @Override
  public void entryChanged(long[] table, long tableOffset, long index) {
    tableDirty = true;
  }

  @Override
  public void tableMoved(long[] table, long tableOffset, long oldOffset, long oldBytes) {
    tableDirty = true;
    tableMoved = true;
    freeKeepingBytes(oldOffset, (int) Math.ceilDiv(oldBytes, 1L << clusterBits));
  }

  @Override
  public boolean freesOldTableAtOnce() {
    return false;
  }

  @Override
  public void forget(long offset) {
    blocks.remove(offset);
    dirtyBlocks.remove(offset);
  }

  /** Drops clean blocks beyond the bound, least recently used first. */
  private void trim() {
    trim(-1);
  }

  /** {@link #trim()}, keeping the block at {@code keep}. */
  private void trim(long keep) {
    Iterator<Map.Entry<Long, ByteBuffer>> it = blocks.entrySet().iterator();
    while (blocks.size() > maxBlocks && it.hasNext()) {
      long offset = it.next().getKey();
      if (offset != keep && !dirtyBlocks.contains(offset)) {
        it.remove();
      }
    }
  }
}
