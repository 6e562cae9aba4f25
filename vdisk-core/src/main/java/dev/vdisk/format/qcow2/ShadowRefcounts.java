package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.corrupt;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The refcounts of an image as they will be after one metadata transaction ({@link SnapshotTransaction}), kept apart
 * from those on disk: every refcount block that changes is a copy, placed in a new cluster, and a new refcount table
 * names the copies (and the unchanged blocks). Nothing on disk changes until the header switches to the new table, so the
 * old refcounts stay true for the old metadata until that one atomic write.
 *
 * <p>New clusters are taken only where the refcounts on disk say 0 (nothing the old metadata references), never
 * twice, and never a cluster this transaction frees: before the switch the old metadata still points at those.
 *
 * <p>Memory: the old refcount table (at most 8 MiB, QEMU's limit), the changed blocks (one cluster each: for a
 * snapshot of a fully allocated image, one block per {@code cluster_size * 8 / refcount_bits} clusters of it), a
 * bounded cache of old blocks, and while the freed clusters are listed, the old versions of the changed blocks.
 */
final class ShadowRefcounts {
  private static final int OLD_BLOCK_CACHE = 64;

  private final HostReader file;
  private final RefcountWidth width;
  private final int clusterBits;
  private final int blockBits;
  private final RefcountTable oldTable;
  private final long oldTableOffset;
  private final Map<Long, ByteBuffer> oldBlocks = new LinkedHashMap<>(16, 0.75f, true);
  /** Changed blocks by block index, sorted so they are written in order. */
  private final TreeMap<Long, ByteBuffer> copies = new TreeMap<>();
  /** Where each copy goes. */
  private final Map<Long, Long> homes = new HashMap<>();
  private final Set<Long> taken = new HashSet<>();
  /** The block index last looked up in {@link #copies} and its copy (null: none yet): a walk stays in one block. */
  private long lastIndex = -1;
  private ByteBuffer lastCopy;
  private long cursor;
  private long tableOffset;
  private long[] table;

  ShadowRefcounts(HostReader file, Qcow2Header header) throws IOException {
    this.file = file;
    this.oldTableOffset = header.refcountTableOffset();
    this.width = new RefcountWidth(header.refcountOrder());
    this.clusterBits = header.clusterBits();
    this.blockBits = width.blockBits(clusterBits);
    this.oldTable = RefcountTable.read(file, header);
  }

  /** The refcount of {@code cluster} after the changes so far. */
  long get(long cluster) throws IOException {
    ByteBuffer copy = copyOf(cluster >>> blockBits);
    if (copy != null) {
      return width.get(copy, index(cluster));
    }
    return onDisk(cluster);
  }

  /**
   * Adds {@code delta} to the refcount of every cluster touched by {@code length} bytes from host offset {@code
   * offset}, as QEMU's {@code update_refcount} counts a range.
   *
   * @throws IOException if a refcount would drop below 0 or overflow the entry width (the image is left unchanged)
   */
  void addRange(long offset, long length, int delta) throws IOException {
    if (length <= 0) {
      return;
    }
    for (long c = offset >>> clusterBits; c <= (offset + length - 1) >>> clusterBits; c++) {
      add(c, delta);
    }
  }

  /** Adds {@code delta} to the refcount of {@code cluster}. */
  void add(long cluster, int delta) throws IOException {
    long value = get(cluster);
    if (delta < 0 && Long.compareUnsigned(value, -delta) < 0) {
      throw corrupt("refcount of cluster " + cluster, Long.toUnsignedString(value),
          "at least " + -delta + " before a release (run qemu-img check -r all)");
    }
    if (delta > 0 && Long.compareUnsigned(width.max() - value, delta) < 0) {
      throw new BlockDeviceException(BlockError.EOVERFLOW, "refcount of cluster " + cluster + ": "
          + Long.toUnsignedString(value) + " + " + delta + " (expected: at most " + Long.toUnsignedString(width.max())
          + " with refcount_bits=" + width.bits() + ")");
    }
    width.set(copy(cluster >>> blockBits), index(cluster), value + delta);
  }

  /**
   * Takes {@code n} contiguous clusters free on disk and not yet taken, first fit, and counts them once.
   *
   * @return the host offset of the first
   */
  long allocate(int n) throws IOException {
    long start = RefcountAllocator.firstFreeRun(c -> onDisk(c) != 0 || taken.contains(c) || get(c) != 0 ? 1 : 0, cursor, n,
        clusterBits);
    for (long k = start; k < start + n; k++) {
      taken.add(k);
      add(k, 1);
    }
    // Clusters once used stay used for the transaction (a freed one is still in use on disk), so everything the
    // search passed is used: the next search starts after it, not from the start again (a full image has its free
    // clusters at the end). A longer run may have passed shorter free runs, which a later search can still fill.
    if (start == cursor || n == 1) {
      cursor = start + n;
    }
    return start << clusterBits;
  }

  /**
   * Places every changed block and a new refcount table naming them: each copy gets a new cluster (which may change
   * more blocks, placed in turn), and the blocks and the table they replace are counted down. Call once, after every
   * other change; then {@link #blocks}, {@link #tableOffset} and {@link #tableBytes} describe what to write.
   */
  void seal() throws IOException {
    addRange(oldTableOffset, (long) oldTable.size() * 8, -1);
    placeCopies();
    while (true) {
      long needed = Math.max(oldTable.size(), copies.isEmpty() ? 0 : copies.lastKey() + 1);
      if (table != null && table.length >= needed) {
        break;
      }
      if (table != null) {
        addRange(tableOffset, (long) table.length * 8, -1); // too small after all: given back, never referenced
      }
      // As large as the old table; where it must grow, one cluster of slack, so that the blocks counting the table
      // itself rarely need a larger one still.
      long clusters = Math.ceilDiv(needed * 8, 1L << clusterBits) + (needed > oldTable.size() ? 1 : 0);
      if (clusters << clusterBits > Qcow2Header.MAX_REFCOUNT_TABLE_BYTES) {
        throw new BlockDeviceException(BlockError.ENOSPC, "qcow2: the refcount table would need "
            + (clusters << clusterBits) + " bytes (expected: at most " + Qcow2Header.MAX_REFCOUNT_TABLE_BYTES
            + ", QEMU's limit)");
      }
      tableOffset = allocate((int) clusters);
      table = new long[(int) ((clusters << clusterBits) / 8)];
      placeCopies();
    }
    for (int i = 0; i < table.length; i++) {
      Long home = homes.get((long) i);
      table[i] = home != null ? home : oldTable.blockOffset(i);
    }
  }

  /** Gives each copy without a cluster one, and counts down the old block it replaces; repeats while that adds copies. */
  private void placeCopies() throws IOException {
    while (homes.size() < copies.size()) {
      List<Long> homeless = new ArrayList<>();
      for (long index : copies.keySet()) {
        if (!homes.containsKey(index)) {
          homeless.add(index);
        }
      }
      for (long index : homeless) {
        homes.put(index, allocate(1));
        long old = oldTable.blockOffset(index);
        if (old != 0) {
          add(old >>> clusterBits, -1);
        }
      }
    }
  }

  /** The changed blocks by their new host offsets, in block order. */
  Map<Long, ByteBuffer> blocks() {
    Map<Long, ByteBuffer> out = new LinkedHashMap<>();
    for (Map.Entry<Long, ByteBuffer> e : copies.entrySet()) {
      out.put(homes.get(e.getKey()), e.getValue().duplicate().clear());
    }
    return out;
  }

  long tableOffset() {
    return tableOffset;
  }

  /** The new refcount table, big-endian, whole clusters. */
  ByteBuffer tableBytes() {
    ByteBuffer b = ByteBuffer.allocate(table.length * 8);
    b.asLongBuffer().put(table);
    return b;
  }

  int tableClusters() {
    return (int) (((long) table.length * 8) >>> clusterBits);
  }

  /**
   * Passes each cluster in use on disk that the transaction leaves unused to {@code sink}, in order: to be discarded
   * once the switch is durable. Found by comparing each changed block with its old version (memory: one more
   * cluster per changed block), so no set of them is kept (a deleted snapshot may free millions).
   */
  void forEachFreed(ClusterSink sink) throws IOException {
    int perBlock = 1 << blockBits;
    // Every old block first: the sink may discard the cluster of one (replaced, so freed) before its turn comes.
    Map<Long, ByteBuffer> olds = new HashMap<>();
    for (long index : copies.keySet()) {
      ByteBuffer old = oldBlock(index);
      if (old != null) {
        olds.put(index, old);
      }
    }
    for (Map.Entry<Long, ByteBuffer> e : copies.entrySet()) {
      ByteBuffer old = olds.get(e.getKey());
      if (old == null) {
        continue;
      }
      for (int k = 0; k < perBlock; k++) {
        if (width.get(e.getValue(), k) == 0 && width.get(old, k) != 0) {
          sink.accept((e.getKey() << blockBits) + k);
        }
      }
    }
  }

  /** Receives cluster numbers. */
  @FunctionalInterface
  interface ClusterSink {
    void accept(long cluster) throws IOException;
  }

  private ByteBuffer copy(long blockIndex) throws IOException {
    ByteBuffer c = copyOf(blockIndex);
    if (c == null) {
      c = ByteBuffer.allocate(1 << clusterBits);
      ByteBuffer old = oldBlock(blockIndex);
      if (old != null) {
        c.put(old.duplicate().clear()).clear();
      }
      copies.put(blockIndex, c);
      lastIndex = blockIndex;
      lastCopy = c;
    }
    return c;
  }

  /**
   * The copy of block {@code blockIndex}, or null: one map lookup per change of block rather than two per cluster
   * counted (a snapshot of a 4 GiB image counts 65,536 clusters in a handful of blocks). Copies are never removed.
   */
  private ByteBuffer copyOf(long blockIndex) {
    if (blockIndex != lastIndex || lastCopy == null) {
      lastIndex = blockIndex;
      lastCopy = copies.get(blockIndex);
    }
    return lastCopy;
  }

  private long onDisk(long cluster) throws IOException {
    ByteBuffer block = oldBlock(cluster >>> blockBits);
    return block == null ? 0 : width.get(block, index(cluster));
  }

  private ByteBuffer oldBlock(long blockIndex) throws IOException {
    long offset = oldTable.blockOffset(blockIndex);
    if (offset == 0) {
      return null;
    }
    ByteBuffer b = oldBlocks.get(offset);
    if (b == null) {
      if ((offset & ((1L << clusterBits) - 1)) != 0) {
        throw corrupt("refcount table entry " + blockIndex + ": refcount block offset", offset,
            "a multiple of the cluster size " + (1 << clusterBits));
      }
      b = file.readMetadata("refcount block " + blockIndex, offset, 1 << clusterBits);
      oldBlocks.put(offset, b);
      if (oldBlocks.size() > OLD_BLOCK_CACHE) {
        oldBlocks.remove(oldBlocks.keySet().iterator().next());
      }
    }
    return b;
  }

  private int index(long cluster) {
    return (int) (cluster & ((1L << blockBits) - 1));
  }
}
