package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * Replaces an image's refcount structures by new ones made from the reference counts a check computed (QEMU
 * 7.2's {@code rebuild_refcount_structure}, for {@code qemu-img check -r all} when a referenced cluster has
 * refcount 0 or a refcount block is broken). Placement follows QEMU's in-memory allocator step for step (first
 * free cluster of the computed counts, a block's own cluster taken from its range or after it, the table placed
 * after the blocks and the blocks re-run over its range until it stops growing), so that the rebuilt image has
 * QEMU's layout and the check after the repair prints what qemu-img's prints.
 *
 * <p><b>Crash safety.</b> The new blocks and table go only into clusters no metadata references (the old
 * structures count as referenced, so they are never overwritten), and the header names the new table only after
 * blocks and table are durable (a flush between, which QEMU 7.2 omits): a power loss before the header write
 * keeps the old structures, with the new clusters at worst leaked; after it, the old structures are leaked, and
 * the leak fix that follows in the same repair frees them.
 *
 * <p>Memory: the computed counts (which grow by the new clusters) and the new table (at most 8 MiB).
 */
final class RefcountRebuild {
  private final BlockDevice file;
  private final ReferenceCounts refs;
  private final RefcountWidth width;
  private final int clusterBits;
  private final int blockBits;
  private long[] table = new long[0];
  private final Set<Long> blocks = new TreeSet<>();

  /** Makes the header name the new refcount table, durably: the step that switches to the new structures. */
  interface HeaderSwitch {
    void write(long tableOffset, int tableClusters) throws IOException;
  }

  private RefcountRebuild(BlockDevice file, ReferenceCounts refs, RefcountWidth width, int clusterBits) {
    this.file = file;
    this.refs = refs;
    this.width = width;
    this.clusterBits = clusterBits;
    this.blockBits = width.blockBits(clusterBits);
  }

  /**
   * Writes new refcount structures for {@code refs} (which then count them too) and switches the header to them.
   *
   * @throws IOException when the new table would exceed QEMU's 8 MiB limit, or the file cannot be written
   */
  static void rebuild(BlockDevice file, ReferenceCounts refs, RefcountWidth width, int clusterBits) throws IOException {
    rebuild(file, refs, width, clusterBits, new long[0], (offset, clusters) -> {
      file.write(Qcow2Header.REFCOUNT_TABLE_OFFSET_FIELD, ByteBuffer.allocate(12).putLong(offset).putInt(clusters).flip(), Set.of());
      file.flush();
    });
  }

  /**
   * {@link #rebuild} with entries {@code width} wide (which may differ from the image's: qemu-img amend's
   * refcount_bits), switching the header with {@code header} once blocks and table are durable. The clusters
   * {@code released} (the old structures) stay counted while the new ones are placed, so nothing is placed over them,
   * and are written as free: once the header names the new structures they are free space, not leaks.
   */
  static void rebuild(BlockDevice file, ReferenceCounts refs, RefcountWidth width, int clusterBits, long[] released,
      HeaderSwitch header) throws IOException {
    new RefcountRebuild(file, refs, width, clusterBits).run(released, header);
  }

  private void run(long[] released, HeaderSwitch header) throws IOException {
    placeBlocks(0, refs.clusters());
    long tableOffset;
    int tableClusters;
    boolean grown;
    do {
      tableClusters = (int) Math.ceilDiv((long) table.length * 8, 1L << clusterBits);
      long[] firstFree = {0};
      tableOffset = allocate(tableClusters, firstFree);
      long start = tableOffset >>> clusterBits;
      grown = placeBlocks(start, start + tableClusters);
    } while (grown);
    for (long cluster : released) {
      refs.set(cluster, 0);
    }
    int cs = 1 << clusterBits;
    for (long index : blocks) {
      ByteBuffer block = ByteBuffer.allocate(cs);
      long first = index << blockBits;
      for (int i = 0; i < 1 << blockBits; i++) {
        long count = refs.get(first + i);
        if (count != 0) {
          width.set(block, i, count);
        }
      }
      file.write(table[(int) index], block, Set.of());
    }
    ByteBuffer t = ByteBuffer.allocate(tableClusters * cs);
    t.asLongBuffer().put(table);
    file.write(tableOffset, t, Set.of());
    file.flush();
    header.write(tableOffset, tableClusters);
  }

  /**
   * QEMU's {@code rebuild_refcounts_write_refblocks}: gives every block that counts a used cluster of
   * {@code [first, end)} a cluster of its own (extending the range when that cluster lies beyond it, as its count
   * must be written too) and an entry in the table, which grows in whole clusters.
   *
   * @return whether the table grew
   */
  private boolean placeBlocks(long first, long end) throws IOException {
    boolean grown = false;
    long[] firstFree = {0};
    for (long cluster = first; cluster < end; cluster++) {
      if (refs.get(cluster) == 0) {
        continue;
      }
      long index = cluster >>> blockBits;
      long blockStart = index << blockBits;
      if (index >= table.length || table[(int) index] == 0) {
        firstFree[0] = Math.max(firstFree[0], blockStart);
        long offset = allocate(1, firstFree);
        end = Math.max(end, (offset >>> clusterBits) + 1);
        if (table.length <= index) {
          long perCluster = (1L << clusterBits) / 8;
          long entries = Math.ceilDiv(index + 1, perCluster) * perCluster;
          if (entries * 8 > Qcow2Header.MAX_REFCOUNT_TABLE_BYTES) {
            throw Qcow2Errors.unsupported("rebuilt refcount table", entries * 8 + " bytes",
                "at most " + Qcow2Header.MAX_REFCOUNT_TABLE_BYTES + " (QEMU's limit)");
          }
          table = Arrays.copyOf(table, (int) entries);
          grown = true;
        }
        table[(int) index] = offset;
      }
      blocks.add(index);
      cluster = blockStart + (1L << blockBits) - 1;
    }
    return grown;
  }

  /**
   * QEMU's {@code alloc_clusters_imrt}: the first run of {@code n} clusters with count 0 from {@code firstFree[0]}
   * on ({@link RefcountAllocator#firstFreeRun}, extending the counts past their end if need be), now counted 1 each;
   * {@code firstFree[0]} moves to the first free cluster seen.
   */
  private long allocate(int n, long[] firstFree) throws IOException {
    long cluster = RefcountAllocator.firstFreeRun(refs::get, firstFree[0], n, clusterBits);
    firstFree[0] = n == 1 ? cluster : RefcountAllocator.firstFreeRun(refs::get, firstFree[0], 1, clusterBits);
    refs.ensure(cluster + n);
    for (int i = 0; i < n; i++) {
      refs.set(cluster + i, 1);
    }
    return cluster << clusterBits;
  }
}
