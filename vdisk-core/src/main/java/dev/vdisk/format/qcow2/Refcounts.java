package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.corrupt;
import static dev.vdisk.format.qcow2.Qcow2Errors.hex;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The refcounts an image stores: cluster index → refcount table entry → refcount block → entry. A cluster that no
 * refcount block covers (past the table, or a free table entry) has refcount 0.
 *
 * <p>Blocks are read on demand and the last one is kept, so a walk in cluster order reads each block once; memory
 * is one cluster (at most 2 MiB) besides the table. Bytes of a block past the end of the file read as zeroes, as
 * QEMU reads them. Not thread-safe: one walker at a time.
 */
final class Refcounts {
  private final HostReader file;
  private final RefcountTable table;
  private final RefcountWidth width;
  private final int clusterBits;
  private final int blockBits;
  private long cachedOffset = -1;
  private final ByteBuffer cached;

  Refcounts(HostReader file, RefcountTable table, RefcountWidth width, int clusterBits) {
    this.file = file;
    this.table = table;
    this.width = width;
    this.clusterBits = clusterBits;
    this.blockBits = width.blockBits(clusterBits);
    this.cached = ByteBuffer.allocate(1 << clusterBits);
  }

  RefcountTable table() {
    return table;
  }

  RefcountWidth width() {
    return width;
  }

  /**
   * The stored refcount of host cluster {@code cluster} (unsigned).
   *
   * @throws IOException EIO when the refcount table entry that covers it is not cluster aligned
   */
  long get(long cluster) throws IOException {
    long index = cluster >>> blockBits;
    long block = table.blockOffset(index);
    if (block == 0) {
      return 0;
    }
    if ((block & ((1L << clusterBits) - 1)) != 0) {
      throw corrupt("refcount table entry " + index + ": refcount block offset", hex(block),
          "a multiple of the cluster size " + (1 << clusterBits));
    }
    if (block != cachedOffset) {
      cachedOffset = -1;
      file.readData(block, cached.clear());
      cachedOffset = block;
    }
    return width.get(cached, (int) (cluster & ((1L << blockBits) - 1)));
  }
}
