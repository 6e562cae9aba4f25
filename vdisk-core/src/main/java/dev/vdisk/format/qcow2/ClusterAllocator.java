package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * QEMU's host cluster allocator ({@code qcow2-refcount.c}): allocating clusters raises their refcounts, and a
 * refcount block that does not exist yet is placed where QEMU places it (describing itself when it can), with the
 * refcount table grown into new self-describing refcount structures at the end of the file when it is too small.
 * Following QEMU step for step, down to the free-cluster cursor, is what makes the images vdisk creates identical
 * to qemu-img's.
 *
 * <p>Works on a {@link PendingFile}: refcount blocks are its clusters, changed in place. The refcount table is
 * held in memory (at most 8 MiB, QEMU's limit) and written to the file whenever it moves. Not thread-safe.
 */
final class ClusterAllocator {
  /** QEMU's limit on refcount table entries: 8 MiB of them. */
  static final long MAX_TABLE_ENTRIES = Qcow2Header.MAX_REFCOUNT_TABLE_BYTES / 8;

  private final PendingFile file;
  private final int clusterBits;
  private final RefcountWidth width;
  private final int blockBits;
  private long[] table;
  private long tableOffset;
  private int maxTableIndex;
  private long freeClusterIndex;

  /** Thrown inside an allocation when new refcount structures were placed and the search must restart. */
  private static final class Again extends Exception {
    Again() {
      super(null, null, false, false);
    }
  }

  private static final Again AGAIN = new Again();

  /**
   * An allocator over the refcount table of {@code table.length} entries at {@code tableOffset} (entries are the
   * block offsets, already in {@code file}), with QEMU's free-cluster cursor at 0 as after an open.
   */
  ClusterAllocator(PendingFile file, int clusterBits, RefcountWidth width, long tableOffset, long[] table) {
    this.file = file;
    this.clusterBits = clusterBits;
    this.width = width;
    this.blockBits = width.blockBits(clusterBits);
    this.table = table.clone();
    this.tableOffset = tableOffset;
    updateMaxTableIndex();
  }

  long tableOffset() {
    return tableOffset;
  }

  /** The refcount table's size in clusters. */
  long tableClusters() {
    return ((long) table.length * 8) >> clusterBits;
  }

  private long clusterSize() {
    return 1L << clusterBits;
  }

  /** The refcount of host cluster {@code cluster}; 0 where no refcount block covers it. */
  long refcount(long cluster) {
    long index = cluster >>> blockBits;
    if (index >= table.length || table[(int) index] == 0) {
      return 0;
    }
    return width.get(file.cluster(table[(int) index]), (int) (cluster & ((1L << blockBits) - 1)));
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
  long lastUsedCluster(long clusters) {
    for (long i = clusters - 1; i >= 0; i--) {
      if (refcount(i) > 0) {
        return i;
      }
    }
    return -1;
  }

  private long allocClustersNoref(long bytes) throws IOException {
    long n = Math.ceilDiv(bytes, clusterSize());
    retry:
    while (true) {
      for (long i = 0; i < n; i++) {
        if (refcount(freeClusterIndex++) != 0) {
          continue retry;
        }
      }
      break;
    }
    if (freeClusterIndex - 1 > (Long.MAX_VALUE >>> clusterBits)) {
      throw new IOException("qcow2: host offset beyond 2^63 (expected: a smaller image)");
    }
    return (freeClusterIndex - n) << clusterBits;
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
          } catch (Again again) {
            // QEMU retries the same clusters first: they may still be free.
            freeClusterIndex = Math.min(freeClusterIndex, start >>> clusterBits);
            throw again;
          }
          file.wrote(table[(int) index], clusterSize());
        }
        oldIndex = index;
        int i = (int) (cluster & ((1L << blockBits) - 1));
        long refcount = width.get(block, i);
        if (decrease ? refcount == 0 : refcount == width.max()) {
          throw new IOException("qcow2: refcount of cluster " + cluster + " would " + (decrease ? "drop below 0" : "exceed " + width.max())
              + " (expected: " + (decrease ? "a referenced cluster" : "room in " + width.bits() + "-bit refcounts") + ")");
        }
        refcount += decrease ? -1 : 1;
        if (refcount == 0 && cluster < freeClusterIndex) {
          freeClusterIndex = cluster;
        }
        width.set(block, i, refcount);
      }
    } catch (Again | IOException e) {
      updateRefcount(offset, at - offset, !decrease);
      throw e;
    }
  }

  /** QEMU's {@code alloc_refcount_block}: the block for {@code cluster}, created if missing (then {@link Again}). */
  private ByteBuffer allocRefcountBlock(long cluster) throws IOException, Again {
    long index = cluster >>> blockBits;
    if (index < table.length && table[(int) index] != 0) {
      return file.cluster(table[(int) index]);
    }
    long newBlock = allocClustersNoref(clusterSize());
    if (sameBlock(newBlock, cluster << clusterBits)) {
      ByteBuffer block = file.cluster(newBlock);
      Arrays.fill(block.array(), (byte) 0);
      width.set(block, (int) ((newBlock >>> clusterBits) & ((1L << blockBits) - 1)), 1);
    } else {
      updateRefcount(newBlock, clusterSize(), false);
      Arrays.fill(file.cluster(newBlock).array(), (byte) 0);
    }
    file.wrote(newBlock, clusterSize());
    if (index < table.length) {
      table[(int) index] = newBlock;
      long entryAt = tableOffset + index * 8;
      file.cluster(entryAt & -clusterSize()).putLong((int) (entryAt & (clusterSize() - 1)), newBlock);
      file.wrote(entryAt, 8);
      maxTableIndex = (int) Math.max(maxTableIndex, index);
      throw AGAIN;
    }
    long blocksUsed = Math.ceilDiv(Math.max(cluster + 1, (newBlock >>> clusterBits) + 1), 1L << blockBits);
    long metaOffset = (blocksUsed << blockBits) << clusterBits;
    refcountArea(metaOffset, 0, false, (int) index, newBlock);
    throw AGAIN;
  }

  private boolean sameBlock(long a, long b) {
    return a >>> (clusterBits + blockBits) == b >>> (clusterBits + blockBits);
  }

  /**
   * QEMU's {@code qcow2_refcount_area}: at {@code startOffset} (the end of the file) creates a new refcount table
   * and the refcount blocks that cover themselves, the table and {@code additionalClusters} beyond them, switches
   * to the new table and frees the old one.
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
    long blockOffset = startOffset;
    for (long i = areaIndex; i < total; i++) {
      ByteBuffer block;
      if (newTable[(int) i] != 0) {
        block = file.cluster(newTable[(int) i]);
      } else {
        block = file.cluster(blockOffset);
        Arrays.fill(block.array(), (byte) 0);
        file.wrote(blockOffset, cs);
        newTable[(int) i] = blockOffset;
        blockOffset += cs;
      }
      long firstCovered = (i << blockBits) * cs;
      if (firstCovered < endOffset) {
        long j = firstCovered < startOffset ? (startOffset - firstCovered) / cs : 0;
        long end = Math.min((endOffset - firstCovered) / cs, 1L << blockBits);
        for (; j < end; j++) {
          width.set(block, (int) j, 1);
        }
        file.wrote(newTable[(int) i], cs);
      }
    }
    for (long i = 0; i < tableClusters; i++) {
      ByteBuffer c = file.cluster(newTableOffset + i * cs);
      for (int k = 0; k < perCluster; k++) {
        c.putLong(k * 8, newTable[(int) (i * perCluster + k)]);
      }
    }
    file.wrote(newTableOffset, tableClusters * cs);
    long oldOffset = tableOffset;
    long oldBytes = (long) table.length * 8;
    table = newTable;
    tableOffset = newTableOffset;
    updateMaxTableIndex();
    free(oldOffset, oldBytes);
    return endOffset;
  }

  private void updateMaxTableIndex() {
    int i = table.length - 1;
    while (i > 0 && table[i] == 0) {
      i--;
    }
    maxTableIndex = i;
  }

  private static IOException tooLarge() {
    return new IOException("qcow2: the refcount table would exceed QEMU's 8 MiB limit (expected: a smaller image or larger clusters)");
  }
}
