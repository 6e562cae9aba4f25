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
 * The refcounts of a writable image and the allocation of host clusters: the refcount table in memory, refcount
 * blocks cached and written back, new refcount blocks that count themselves, and growth of the table.
 *
 * <p><b>Write ordering.</b> Nothing here reaches the file by itself: {@link #writeBlocks} and {@link #writeTable}
 * are called by the image's flush, blocks first (followed by a flush of the file), then the table, then (if the
 * table moved) the header. So a refcount that makes a cluster used is durable before any table entry or L2 entry
 * that points at it, and a new table is complete on disk before the header names it. Frees are only recorded
 * ({@link #free}) and applied by the image's flush once the entries that referenced the clusters are durable
 * ({@link #applyFrees}), so a crash leaves a cluster leaked, never referenced with a refcount of 0, and a freed
 * cluster is reused only after nothing durable points at it.
 *
 * <p><b>Memory:</b> the table (at most 8 MiB, QEMU's limit) and at most {@code maxBlocks} cached blocks plus the
 * dirty ones written at the next flush. Not thread-safe: the image's metadata lock guards every call.
 */
final class RefcountStore {
  private final BlockDevice file;
  private final HostReader reader;
  private final RefcountWidth width;
  private final int clusterBits;
  private final int blockBits;
  private final int maxBlocks;
  private long[] table;
  private long tableOffset;
  private boolean tableDirty;
  private boolean tableMoved;
  private final Map<Long, ByteBuffer> blocks = new LinkedHashMap<>(16, 0.75f, true);
  private final Set<Long> dirtyBlocks = new HashSet<>();
  private final List<Long> pendingFrees = new ArrayList<>();
  /** No cluster below this is free. */
  private long freeHint;
  /** One past the highest cluster that is or was in use: where the table grows to. */
  private long end;
  /** Where {@link #allocateBytes} packs next: inside a host cluster that compressed data partly fills, or 0. */
  private long byteCursor;
  /** The refcount blocks' host clusters, sorted; rebuilt from the table when null (after the table changed). */
  private long[] blockClusters;

  RefcountStore(BlockDevice file, Qcow2Header header, RefcountTable table, int maxBlocks) throws IOException {
    this.file = file;
    this.reader = new HostReader(file, "image file");
    this.width = new RefcountWidth(header.refcountOrder());
    this.clusterBits = header.clusterBits();
    this.blockBits = width.blockBits(clusterBits);
    this.maxBlocks = Math.max(2, maxBlocks);
    this.table = new long[table.size()];
    for (int i = 0; i < table.size(); i++) {
      this.table[i] = table.entry(i);
    }
    this.tableOffset = header.refcountTableOffset();
    this.end = Math.ceilDiv(file.size(), 1L << clusterBits);
  }

  /** The refcount of host cluster {@code cluster} (0 where no block covers it). */
  long get(long cluster) throws IOException {
    ByteBuffer block = block(cluster >>> blockBits, false);
    return block == null ? 0 : width.get(block, index(cluster));
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
   * Allocates {@code n} contiguous free clusters, each with refcount 1.
   *
   * @return the host offset of the first
   */
  long allocate(int n) throws IOException {
    while (true) {
      long start = findFree(n);
      if (covered(start, n)) {
        for (long c = start; c < start + n; c++) {
          notRefcountMetadata(c);
        }
        for (long c = start; c < start + n; c++) {
          set(c, 1);
        }
        if (start == freeHint) {
          freeHint = start + n;
        }
        end = Math.max(end, start + n);
        return start << clusterBits;
      }
    }
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
    set(cluster, next);
    if (next == 0) {
      freeHint = Math.min(freeHint, cluster);
      if (byteCursor >>> clusterBits == cluster) {
        byteCursor = 0;
      }
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
   * Sets the refcount of {@code cluster} to {@code value} now (a repair's fix, qemu-img check -r): the cluster's
   * block must exist. A cluster that drops to 0 is discarded in the file, as QEMU discards it.
   */
  void repair(long cluster, long value) throws IOException {
    set(cluster, value);
    if (value == 0) {
      freeHint = Math.min(freeHint, cluster);
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
      if (get(cluster) == 0) {
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
   * Removes from the table the refcount blocks that count no cluster but possibly themselves, as QEMU's {@code
   * qcow2_shrink_reftable} does: the table is marked for writing and a block counted elsewhere is recorded as freed,
   * so the caller's flush writes the table before the blocks' clusters are counted down. Returns whether any went.
   */
  boolean dropEmptyBlocks() throws IOException {
    boolean dropped = false;
    for (int i = 0; i < table.length; i++) {
      long offset = table[i] & RefcountTable.OFFSET_MASK;
      if (offset == 0) {
        continue;
      }
      ByteBuffer block = block(i, true);
      long self = offset >>> clusterBits;
      boolean selfCounted = self >>> blockBits == i;
      boolean empty = true;
      for (int k = 0; k < 1 << blockBits && empty; k++) {
        empty = width.get(block, k) == 0 || selfCounted && k == index(self);
      }
      if (!empty) {
        continue;
      }
      table[i] = 0;
      tableDirty = true;
      blockClusters = null;
      blocks.remove(offset);
      dirtyBlocks.remove(offset);
      if (selfCounted) {
        freeHint = Math.min(freeHint, self);
      } else {
        free(offset, 1);
      }
      dropped = true;
    }
    return dropped;
  }

  /**
   * One past the last cluster with a non-zero refcount, in bytes ({@code qcow2_get_last_cluster}): where the file may
   * end. The clusters after it are forgotten, so the table grows from there.
   */
  long trimEnd() throws IOException {
    long last = end - 1;
    while (last >= 0 && get(last) == 0) {
      last--;
    }
    end = last + 1;
    return end << clusterBits;
  }

  /** True if the table moved and the header does not name the new one yet. */
  boolean tableMoved() {
    return tableMoved;
  }

  /** True if blocks or the table wait to be written. */
  boolean dirty() {
    return !dirtyBlocks.isEmpty() || tableDirty;
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
    ByteBuffer b = ByteBuffer.allocate(tableClusters() << clusterBits);
    b.asLongBuffer().put(table);
    file.write(tableOffset, b, Set.of());
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
    return ByteBuffer.allocate(12).putLong(tableOffset).putInt(tableClusters()).flip();
  }

  private int tableClusters() {
    return (int) Math.ceilDiv((long) table.length * 8, 1L << clusterBits);
  }

  private int index(long cluster) {
    return (int) (cluster & ((1L << blockBits) - 1));
  }

  private void set(long cluster, long value) throws IOException {
    long blockIndex = cluster >>> blockBits;
    ByteBuffer block = block(blockIndex, true);
    width.set(block, index(cluster), value);
    dirtyBlocks.add(table[(int) blockIndex] & RefcountTable.OFFSET_MASK);
  }

  /** The block of {@code blockIndex}, read on a miss; null where none exists (an error if it {@code mustExist}). */
  private ByteBuffer block(long blockIndex, boolean mustExist) throws IOException {
    long offset = blockIndex < table.length ? table[(int) blockIndex] & RefcountTable.OFFSET_MASK : 0;
    if (offset == 0) {
      if (mustExist) {
        throw new IllegalStateException("refcount block " + blockIndex + " missing: allocate() creates blocks first");
      }
      return null;
    }
    ByteBuffer b = blocks.get(offset);
    if (b == null) {
      if (offset < 0) {
        // Past what a read can address (QEMU's read fails with EIO there).
        throw new BlockDeviceException(BlockError.EIO, "refcount table entry " + blockIndex + ": refcount block offset "
            + hex(offset) + " (expected: below 2^63, inside the image file)");
      }
      if ((offset & ((1L << clusterBits) - 1)) != 0) {
        throw corrupt("refcount table entry " + blockIndex + ": refcount block offset", hex(offset),
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

  /**
   * The first of {@code n} consecutive clusters with refcount 0, from the hint on; moves the hint to the first free
   * cluster seen, as every cluster before it is in use.
   */
  private long findFree(int n) throws IOException {
    long run = 0;
    long limit = Geometry.OFFSET_MASK >>> clusterBits;
    boolean seenFree = false;
    for (long c = freeHint; c < limit; c++) {
      if (get(c) != 0) {
        run = 0;
        continue;
      }
      if (!seenFree) {
        seenFree = true;
        freeHint = c;
      }
      if (++run == n) {
        return c - n + 1;
      }
    }
    throw new BlockDeviceException(BlockError.ENOSPC, "qcow2: no room for " + n + " more clusters below 2^56 bytes");
  }

  /**
   * Refuses to hand out {@code cluster} where the refcounts call it free but it holds the header, the refcount table
   * or a refcount block: the refcounts are damaged, and writing there would destroy the image (QEMU's metadata
   * overlap check refuses such writes with EIO and marks the image corrupt). {@code check -r all} repairs it.
   */
  private void notRefcountMetadata(long cluster) throws IOException {
    long tableStart = tableOffset >>> clusterBits;
    String holds = null;
    if (cluster == 0) {
      holds = "the image header";
    } else if (cluster >= tableStart && cluster < tableStart + tableClusters()) {
      holds = "the refcount table";
    } else {
      if (blockClusters == null) {
        blockClusters = Arrays.stream(table).map(e -> (e & RefcountTable.OFFSET_MASK) >>> clusterBits).filter(c -> c != 0)
            .sorted().toArray();
      }
      if (Arrays.binarySearch(blockClusters, cluster) >= 0) {
        holds = "a refcount block";
      }
    }
    if (holds != null) {
      throw corrupt("refcount of host cluster " + cluster + ", which holds " + holds, 0,
          "at least 1 (the refcounts are damaged: run check -r all)");
    }
  }

  /**
   * True if refcount blocks cover clusters {@code [start, start + n)}; otherwise creates one missing block and
   * returns false, as the new block may have taken a cluster of the range.
   */
  private boolean covered(long start, int n) throws IOException {
    for (long b = start >>> blockBits; b <= (start + n - 1) >>> blockBits; b++) {
      if (b >= table.length || table[(int) b] == 0) {
        createBlock(b);
        return false;
      }
    }
    return true;
  }

  /** Adds a refcount block for {@code blockIndex}, placed in the first free cluster and counting itself. */
  private void createBlock(long blockIndex) throws IOException {
    if (blockIndex >= table.length) {
      growTable(blockIndex + 1);
      return;
    }
    long at = findFree(1);
    long atBlock = at >>> blockBits;
    if (atBlock != blockIndex && (atBlock >= table.length || table[(int) atBlock] == 0)) {
      createBlock(atBlock);
      return;
    }
    notRefcountMetadata(at);
    long offset = at << clusterBits;
    // Written (empty) at once, as QEMU writes a new refcount block: its disk space is taken now, so a full disk fails
    // this allocation, which changed nothing yet, rather than every later flush. Nothing points at the cluster.
    file.write(offset, ByteBuffer.allocate(1 << clusterBits), Set.of());
    blocks.put(offset, ByteBuffer.allocate(1 << clusterBits));
    table[(int) blockIndex] = offset;
    blockClusters = null;
    dirtyBlocks.add(offset);
    tableDirty = true;
    set(at, 1);
    end = Math.max(end, at + 1);
    if (at == freeHint) {
      freeHint = at + 1;
    }
  }

  /**
   * Moves the table to a larger place at the end of the image, with new refcount blocks for the clusters it and
   * they take (blocks first, then the table). The old table's clusters are freed once the header names the new.
   */
  private void growTable(long minEntries) throws IOException {
    long entriesPerCluster = (1L << clusterBits) / 8;
    long wanted = Math.max(minEntries, (long) table.length * 3 / 2);
    long clusters = Math.ceilDiv(wanted, entriesPerCluster);
    if (clusters << clusterBits > Qcow2Header.MAX_REFCOUNT_TABLE_BYTES) {
      throw new BlockDeviceException(BlockError.ENOSPC, "qcow2: the refcount table would need " + (clusters << clusterBits)
          + " bytes (expected: at most " + Qcow2Header.MAX_REFCOUNT_TABLE_BYTES + ", QEMU's limit)");
    }
    long start = end;
    long newBlocks = 0;
    while (true) {
      long missing = 0;
      long areaEnd = start + newBlocks + clusters;
      for (long b = start >>> blockBits; b <= (areaEnd - 1) >>> blockBits; b++) {
        if (b >= table.length || table[(int) b] == 0) {
          missing++;
        }
      }
      if (missing == newBlocks) {
        break;
      }
      newBlocks = missing;
    }
    long[] grown = Arrays.copyOf(table, (int) (clusters * entriesPerCluster));
    long next = start;
    long areaEnd = start + newBlocks + clusters;
    for (long b = start >>> blockBits; b <= (areaEnd - 1) >>> blockBits; b++) {
      if (b >= table.length || table[(int) b] == 0) {
        long offset = next++ << clusterBits;
        grown[(int) b] = offset;
        blocks.put(offset, ByteBuffer.allocate(1 << clusterBits));
        dirtyBlocks.add(offset);
      }
    }
    long oldOffset = tableOffset;
    int oldClusters = tableClusters();
    table = grown;
    blockClusters = null;
    tableOffset = next << clusterBits;
    tableDirty = true;
    tableMoved = true;
    for (long c = start; c < areaEnd; c++) {
      set(c, 1);
    }
    end = areaEnd;
    free(oldOffset, oldClusters);
  }
}
