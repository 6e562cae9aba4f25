package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.corrupt;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The one host cluster allocator, for new images and open ones: which clusters are free and what their refcounts
 * are, following QEMU's {@code qcow2-refcount.c} step for step. Allocating clusters raises their refcounts, and a
 * refcount block that does not exist yet is placed where QEMU places it (describing itself when it can), with the
 * refcount table grown into new self-describing refcount structures when it is too small. Following QEMU down to
 * the free-cluster cursor is what makes the images vdisk creates identical to qemu-img's, and the clusters vdisk
 * allocates when writing the ones qemu-io allocates.
 *
 * <p>Where blocks and table live and when they reach the file is the {@link RefcountBlocks}' business, not this
 * class's: decisions here, storage and write-back order there. The table is held here in memory (at most 8 MiB,
 * QEMU's limit), entries as stored (reserved bits included). Not thread-safe.
 */
final class RefcountAllocator {
  /** QEMU's limit on refcount table entries: 8 MiB of them. */
  static final long MAX_TABLE_ENTRIES = Qcow2Header.MAX_REFCOUNT_TABLE_BYTES / 8;

  private final RefcountBlocks blocks;
  private final int clusterBits;
  private final RefcountWidth width;
  private final int blockBits;
  private final boolean refusesMetadata;
  private long[] table;
  private long tableOffset;
  private int maxTableIndex;
  private long freeClusterIndex;
  /** One past the highest cluster that is or was in use. */
  private long end;
  /** The refcount blocks' host clusters, sorted; rebuilt from the table when null (after the table changed). */
  private long[] blockClusters;
  /** The other metadata {@link #notRefcountMetadata} guards ({@link #guard}), or null. */
  private MetadataOverlap overlap;
  /** The file's length in clusters when {@link #guard} was called: no cluster past it held metadata then. */
  private long overlapEnd;

  /** Thrown inside an allocation when new refcount structures were placed and the search must restart. */
  private static final class Again extends Exception {
    Again() {
      super(null, null, false, false);
    }
  }

  private static final Again AGAIN = new Again();

  /**
   * An allocator over the refcount table {@code table} at {@code tableOffset} (entries are the block offsets, which
   * {@code blocks} holds), with QEMU's free-cluster cursor at 0 as after an open.
   *
   * @param endCluster one past the last cluster that may be in use (the file's length in clusters)
   * @param refusesMetadata refuse to hand out a cluster whose refcount says free while it holds the header, the
   *     table or a refcount block (damaged refcounts of an existing image); a new image's first allocation takes
   *     the header's cluster itself
   */
  RefcountAllocator(RefcountBlocks blocks, int clusterBits, RefcountWidth width, long tableOffset, long[] table,
      long endCluster, boolean refusesMetadata) {
    this.blocks = blocks;
    this.clusterBits = clusterBits;
    this.width = width;
    this.blockBits = width.blockBits(clusterBits);
    this.refusesMetadata = refusesMetadata;
    this.table = table.clone();
    this.tableOffset = tableOffset;
    this.end = endCluster;
    updateMaxTableIndex();
  }

  long tableOffset() {
    return tableOffset;
  }

  /**
   * Also refuses to hand out a cluster that {@code other} says holds metadata (QEMU's overlap check over the L1 and L2
   * tables, the snapshot table and the bitmap directory), among the clusters the file has now. Clusters past its end
   * are not asked: whatever metadata this allocator places there has a refcount.
   */
  void guard(MetadataOverlap other) {
    this.overlap = other;
    this.overlapEnd = end;
  }

  /** The refcount table's size in clusters. */
  int tableClusters() {
    return (int) Math.ceilDiv((long) table.length * 8, 1L << clusterBits);
  }

  /** Puts the table, {@link #tableClusters} clusters of entries, into {@code b}. */
  void putTable(ByteBuffer b) {
    b.asLongBuffer().put(table);
  }

  private long clusterSize() {
    return 1L << clusterBits;
  }

  private long blockOffset(long index) {
    return index < table.length ? table[(int) index] & RefcountTable.OFFSET_MASK : 0;
  }

  private int indexInBlock(long cluster) {
    return (int) (cluster & ((1L << blockBits) - 1));
  }

  /** The refcount of host cluster {@code cluster}; 0 where no refcount block covers it. */
  long refcount(long cluster) throws IOException {
    long index = cluster >>> blockBits;
    long offset = blockOffset(index);
    return offset == 0 ? 0 : width.get(blocks.load(index, offset), indexInBlock(cluster));
  }

  /**
   * Sets the refcount of {@code cluster}, whose block exists, to {@code value} now (a repair's fix, or a reference
   * added or dropped by a caller that checked the bounds); a cluster that drops to 0 is free again.
   */
  void setRefcount(long cluster, long value) throws IOException {
    long index = cluster >>> blockBits;
    long offset = blockOffset(index);
    if (offset == 0) {
      throw new IllegalStateException("refcount block " + index + " missing: allocations create blocks first");
    }
    width.set(blocks.load(index, offset), indexInBlock(cluster), value);
    blocks.changed(offset);
    if (value == 0) {
      freeClusterIndex = Math.min(freeClusterIndex, cluster);
    }
  }

  /** QEMU's {@code qcow2_alloc_clusters}: {@code bytes} rounded up to clusters, contiguous, at the first free run. */
  long allocClusters(long bytes) throws IOException {
    while (true) {
      long offset = allocClustersNoref(bytes);
      try {
        updateRefcount(offset, bytes, false);
        return offset;
      } catch (Again again) {
        // New refcount blocks may sit where the clusters were going to be: search again.
      }
    }
  }

  /**
   * QEMU's {@code qcow2_alloc_clusters_at}: allocates up to {@code count} clusters from {@code offset}, as many
   * as are free in a row.
   *
   * @return the clusters allocated, 0 if the first one is taken
   */
  long allocClustersAt(long offset, long count) throws IOException {
    if (count == 0) {
      return 0;
    }
    while (true) {
      long cluster = offset >>> clusterBits;
      long i = 0;
      while (i < count && refcount(cluster + i) == 0) {
        i++;
      }
      try {
        updateRefcount(offset, i << clusterBits, false);
        return i;
      } catch (Again again) {
        // Retry: the free run may have changed.
      }
    }
  }

  /** QEMU's {@code qcow2_free_clusters}: drops one reference from each cluster of the range. */
  void free(long offset, long bytes) throws IOException {
    try {
      updateRefcount(offset, bytes, true);
    } catch (Again again) {
      throw new IllegalStateException("freeing clusters never allocates refcount blocks", again);
    }
  }

  /** QEMU's {@code qcow2_get_last_cluster}: the last cluster below {@code clusters} with a refcount, or -1. */
  long lastUsedCluster(long clusters) throws IOException {
    for (long i = clusters - 1; i >= 0; i--) {
      if (refcount(i) > 0) {
        return i;
      }
    }
    return -1;
  }

  /** One past the highest cluster that is or was in use since the open (or the last {@link #trimEnd}). */
  long endCluster() {
    return end;
  }

  /**
   * One past the last cluster with a non-zero refcount, in bytes: where the file may end. The clusters after it
   * are forgotten.
   */
  long trimEnd() throws IOException {
    end = lastUsedCluster(end) + 1;
    return end << clusterBits;
  }

  /** A refcount per host cluster, wherever it is kept: the refcount blocks, or the counts a check computed. */
  @FunctionalInterface
  interface Counts {
    long refcount(long cluster) throws IOException;
  }

  /**
   * The first of {@code n} consecutive clusters from {@code from} on whose count in {@code counts} is 0: the search
   * for free space of every allocation, in an image's refcounts ({@link #allocClusters}) as in the counts a repair
   * rebuilds from ({@link RefcountRebuild}). QEMU's {@code alloc_clusters_noref} and {@code alloc_clusters_imrt}
   * search alike and differ only in where they leave their cursor.
   *
   * @throws BlockDeviceException ENOSPC when the run would end at or past 2^56 bytes, which an L2 entry cannot address
   */
  static long firstFreeRun(Counts counts, long from, long n, int clusterBits) throws IOException {
    if (n <= 0) {
      return from;
    }
    long limit = Geometry.OFFSET_MASK >>> clusterBits;
    long run = 0;
    for (long c = from; c < limit; c++) {
      if (counts.refcount(c) != 0) {
        run = 0;
      } else if (++run == n) {
        return c - n + 1;
      }
    }
    throw new BlockDeviceException(BlockError.ENOSPC, "qcow2: no room for " + n + " more clusters below 2^56 bytes");
  }

  /**
   * {@link #refcount} for one search of free clusters, which changes no refcount: the block of the last cluster asked
   * about is kept, so that a search looks each block up once, not once per cluster (an allocation of a convert's 2 MiB
   * chunk asks about 32 clusters in a row).
   */
  private final class SearchCounts implements Counts {
    private long index = -1;
    private ByteBuffer block;

    @Override
    public long refcount(long cluster) throws IOException {
      long i = cluster >>> blockBits;
      if (i != index) {
        long offset = blockOffset(i);
        block = offset == 0 ? null : blocks.load(i, offset);
        index = i;
      }
      return block == null ? 0 : width.get(block, indexInBlock(cluster));
    }
  }

  /** QEMU's {@code alloc_clusters_noref}: the first free run from the cursor, which moves past it. */
  private long allocClustersNoref(long bytes) throws IOException {
    long n = Math.ceilDiv(bytes, clusterSize());
    freeClusterIndex = firstFreeRun(new SearchCounts(), freeClusterIndex, n, clusterBits) + n;
    long first = freeClusterIndex - n;
    if (refusesMetadata) {
      for (long c = first; c < freeClusterIndex; c++) {
        notRefcountMetadata(c);
      }
    }
    return first << clusterBits;
  }

  /**
   * Refuses to hand out {@code cluster} where the refcounts call it free but it holds the header, the refcount table,
   * a refcount block or other metadata ({@link #guard}): the refcounts are damaged, and writing there would destroy
   * the image (QEMU's metadata overlap check refuses such writes with EIO and also marks the image corrupt; vdisk
   * refuses every such allocation instead). {@code check -r all} repairs it.
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
      } else if (overlap != null && cluster < overlapEnd) {
        holds = overlap.holds(cluster);
      }
    }
    if (holds != null) {
      throw corrupt("refcount of host cluster " + cluster + ", which holds " + holds, 0,
          "at least 1 (the refcounts are damaged: run check -r all)");
    }
  }

  /** QEMU's {@code update_refcount} with an addend of one; undoes its partial work before rethrowing. */
  private void updateRefcount(long offset, long length, boolean decrease) throws IOException, Again {
    if (length <= 0) {
      return;
    }
    long start = offset & -clusterSize();
    long last = (offset + length - 1) & -clusterSize();
    long at = start;
    try {
      ByteBuffer block = null;
      long oldIndex = -1;
      for (; at <= last; at += clusterSize()) {
        long cluster = at >>> clusterBits;
        long index = cluster >>> blockBits;
        if (index != oldIndex) {
          try {
            block = allocRefcountBlock(cluster);
          } catch (Again | IOException e) {
            // QEMU retries the same clusters first: they may still be free (and are, if the new block failed).
            freeClusterIndex = Math.min(freeClusterIndex, start >>> clusterBits);
            throw e;
          }
          blocks.changed(blockOffset(index));
        }
        oldIndex = index;
        int i = indexInBlock(cluster);
        long refcount = width.get(block, i);
        if (decrease ? refcount == 0 : refcount == width.max()) {
          throw new IOException("qcow2: refcount of cluster " + cluster + " would " + (decrease ? "drop below 0" : "exceed " + width.max())
              + " (expected: " + (decrease ? "a referenced cluster" : "room in " + width.bits() + "-bit refcounts") + ")");
        }
        refcount += decrease ? -1 : 1;
        if (refcount == 0 && cluster < freeClusterIndex) {
          freeClusterIndex = cluster;
        }
        if (!decrease) {
          end = Math.max(end, cluster + 1);
        }
        width.set(block, i, refcount);
      }
    } catch (Again | IOException e) {
      updateRefcount(offset, at - offset, !decrease);
      throw e;
    }
  }

  /**
   * QEMU's {@code alloc_refcount_block}: the block for {@code cluster}, created if missing (then {@link Again}). If the
   * block or the larger table that must name it cannot be written (a full disk), the new block is given back and
   * nothing else changed.
   */
  private ByteBuffer allocRefcountBlock(long cluster) throws IOException, Again {
    long index = cluster >>> blockBits;
    if (blockOffset(index) != 0) {
      return blocks.load(index, blockOffset(index));
    }
    long newBlock = allocClustersNoref(clusterSize());
    boolean countsItself = sameBlock(newBlock, cluster << clusterBits);
    if (!countsItself) {
      updateRefcount(newBlock, clusterSize(), false);
    }
    try {
      ByteBuffer block = blocks.fresh(newBlock, true);
      if (countsItself) {
        width.set(block, indexInBlock(newBlock >>> clusterBits), 1);
        end = Math.max(end, (newBlock >>> clusterBits) + 1);
      }
      if (index < table.length) {
        table[(int) index] = newBlock;
        blockClusters = null;
        blocks.entryChanged(table, tableOffset, index);
        maxTableIndex = (int) Math.max(maxTableIndex, index);
        throw AGAIN;
      }
      long blocksUsed = Math.ceilDiv(Math.max(cluster + 1, (newBlock >>> clusterBits) + 1), 1L << blockBits);
      long metaOffset = (blocksUsed << blockBits) << clusterBits;
      refcountArea(metaOffset, 0, false, (int) index, newBlock);
    } catch (IOException e) {
      // No table names the block: it goes again, and with it its count where another block counted it.
      blocks.forget(newBlock);
      if (!countsItself) {
        free(newBlock, clusterSize());
      }
      freeClusterIndex = Math.min(freeClusterIndex, newBlock >>> clusterBits);
      throw e;
    }
    throw AGAIN;
  }

  private boolean sameBlock(long a, long b) {
    return a >>> (clusterBits + blockBits) == b >>> (clusterBits + blockBits);
  }

  /**
   * QEMU's {@code qcow2_refcount_area}: at {@code startOffset} (the end of the file) creates a new refcount table
   * and the refcount blocks that cover themselves, the table and {@code additionalClusters} beyond them, switches
   * to the new table and frees the old one (at once or once the header names the new one: {@link RefcountBlocks}).
   *
   * @param exact size the table for exactly this much; otherwise with half again for growth
   * @param newBlockIndex with {@code newBlockOffset} not 0: a block to enter into the new table at this index
   * @return the offset after the new structures, where the additional clusters may go
   */
  long refcountArea(long startOffset, long additionalClusters, boolean exact, int newBlockIndex, long newBlockOffset)
      throws IOException {
    long cs = clusterSize();
    long total = MetadataSize.refcounts(startOffset / cs + additionalClusters, clusterBits, width, !exact).blocks();
    if (total > MAX_TABLE_ENTRIES) {
      throw tooLarge();
    }
    long areaIndex = (startOffset / cs) >>> blockBits;
    long tableSize = exact ? total : total + Math.ceilDiv(total, 2);
    long perCluster = cs / 8;
    tableSize = Math.ceilDiv(tableSize, perCluster) * perCluster;
    long tableClusters = tableSize * 8 / cs;
    if (tableSize > MAX_TABLE_ENTRIES) {
      throw tooLarge();
    }
    long[] newTable = new long[(int) tableSize];
    System.arraycopy(table, 0, newTable, 0, (int) Math.min(tableSize, tableSize > maxTableIndex ? maxTableIndex + 1L : tableSize));
    if (newBlockOffset != 0) {
      newTable[newBlockIndex] = newBlockOffset;
    }
    long additionalBlocks = 0;
    for (long i = areaIndex; i < total; i++) {
      if (newTable[(int) i] == 0) {
        additionalBlocks++;
      }
    }
    long newTableOffset = startOffset + additionalBlocks * cs;
    long endOffset = newTableOffset + tableClusters * cs;
    // Before anything changes: a full disk fails here, leaving the old table and blocks as they were.
    blocks.reserve(startOffset, endOffset - startOffset);
    long blockOffset = startOffset;
    for (long i = areaIndex; i < total; i++) {
      ByteBuffer block;
      long offset = newTable[(int) i] & RefcountTable.OFFSET_MASK;
      if (offset != 0) {
        block = blocks.load(i, offset);
      } else {
        offset = blockOffset;
        block = blocks.fresh(offset, false);
        newTable[(int) i] = offset;
        blockOffset += cs;
      }
      long firstCovered = (i << blockBits) * cs;
      if (firstCovered < endOffset) {
        long j = firstCovered < startOffset ? (startOffset - firstCovered) / cs : 0;
        long last = Math.min((endOffset - firstCovered) / cs, 1L << blockBits);
        for (; j < last; j++) {
          width.set(block, (int) j, 1);
        }
        blocks.changed(offset);
      }
    }
    long oldOffset = tableOffset;
    long oldBytes = (long) table.length * 8;
    table = newTable;
    blockClusters = null;
    tableOffset = newTableOffset;
    end = Math.max(end, endOffset / cs);
    updateMaxTableIndex();
    blocks.tableMoved(table, tableOffset, oldOffset, oldBytes);
    if (blocks.freesOldTableAtOnce()) {
      free(oldOffset, oldBytes);
    }
    return endOffset;
  }

  /**
   * Removes from the table the refcount blocks that count no cluster but possibly themselves, as QEMU's {@code
   * qcow2_shrink_reftable} does. A block that counted itself is free at once.
   *
   * @return the offsets of the removed blocks counted elsewhere, whose reference the caller releases once the
   *     table without them is durable; null if no block was removed
   */
  long[] dropEmptyBlocks() throws IOException {
    long[] countedElsewhere = new long[0];
    boolean dropped = false;
    for (int i = 0; i < table.length; i++) {
      long offset = table[i] & RefcountTable.OFFSET_MASK;
      if (offset == 0) {
        continue;
      }
      ByteBuffer block = blocks.load(i, offset);
      long self = offset >>> clusterBits;
      boolean selfCounted = self >>> blockBits == i;
      boolean empty = true;
      for (int k = 0; k < 1 << blockBits && empty; k++) {
        empty = width.get(block, k) == 0 || selfCounted && k == indexInBlock(self);
      }
      if (!empty) {
        continue;
      }
      table[i] = 0;
      blockClusters = null;
      blocks.entryChanged(table, tableOffset, i);
      blocks.forget(offset);
      if (selfCounted) {
        freeClusterIndex = Math.min(freeClusterIndex, self);
      } else {
        countedElsewhere = Arrays.copyOf(countedElsewhere, countedElsewhere.length + 1);
        countedElsewhere[countedElsewhere.length - 1] = offset;
      }
      dropped = true;
    }
    return dropped ? countedElsewhere : null;
  }

  private void updateMaxTableIndex() {
    int i = table.length - 1;
    while (i > 0 && table[i] == 0) {
      i--;
    }
    maxTableIndex = i;
  }

  private static IOException tooLarge() {
    return new BlockDeviceException(BlockError.ENOSPC,
        "qcow2: the refcount table would exceed QEMU's 8 MiB limit (expected: a smaller image or larger clusters)");
  }
}
