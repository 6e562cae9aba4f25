package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;

/**
 * qemu-img amend's {@code refcount_bits=N} (QEMU's {@code qcow2_change_refcount_order}): the stored refcount of every
 * cluster of the file is copied into new refcount blocks of the new width and a new refcount table, placed in
 * clusters no refcount counts (the old structures stay counted, so they are never overwritten; placement as
 * {@link RefcountRebuild}'s), and then one header write switches refcount_order and the table together.
 *
 * <p><b>Crash safety:</b> the new blocks and table are flushed before the header names them, in one write of the
 * first sector (which holds every fixed field). A power loss before that write leaves the old structures in charge
 * (the new clusters lie in space they count free); after it, the new ones, which count the old blocks and table
 * free. A cluster counted more than once, or a leaked one, keeps its stored count, as in QEMU.
 *
 * <p>Memory: one count per cluster of the file, as wide as the wider of the two widths, and the new table (at most
 * 8 MiB, QEMU's limit).
 */
final class RefcountWidthChange {
  private RefcountWidthChange() {}

  /**
   * Refuses a narrower width that a stored refcount does not fit, with QEMU's message, before anything is written.
   */
  static void check(BlockDevice file, ImageHead head, int order) throws IOException {
    counts(file, head, order);
  }

  /** Switches the image in {@code file}, whose head is {@code head}, to refcount entries of {@code 1 << order} bits. */
  static void change(BlockDevice file, ImageHead head, int order) throws IOException {
    ReferenceCounts counts = counts(file, head, order);
    HeaderRewrite header = new HeaderRewrite(head);
    RefcountRebuild.rebuild(file, counts, new RefcountWidth(order), head.header().clusterBits(), oldStructures(file, head),
        (offset, clusters) -> {
      header.refcountOrder = order;
      header.refcountTableOffset = offset;
      header.refcountTableClusters = clusters;
      header.write(file);
    });
  }

  /** The clusters of the old refcount table and blocks. */
  private static long[] oldStructures(BlockDevice file, ImageHead head) throws IOException {
    Qcow2Header h = head.header();
    RefcountTable table = RefcountTable.read(new HostReader(file, "image file"), h);
    java.util.List<Long> out = new java.util.ArrayList<>();
    for (long i = 0; i < h.refcountTableClusters(); i++) {
      out.add((h.refcountTableOffset() >>> h.clusterBits()) + i);
    }
    for (int i = 0; i < table.size(); i++) {
      if (table.blockOffset(i) != 0) {
        out.add(table.blockOffset(i) >>> h.clusterBits());
      }
    }
    return out.stream().mapToLong(Long::longValue).toArray();
  }

  /** The stored refcounts of the file's clusters, checked against the new width. */
  private static ReferenceCounts counts(BlockDevice file, ImageHead head, int order) throws IOException {
    Qcow2Header h = head.header();
    HostReader reader = new HostReader(file, "image file");
    RefcountStore stored = new RefcountStore(file, h, RefcountTable.read(reader, h), 2);
    RefcountWidth to = new RefcountWidth(order);
    ReferenceCounts counts = new ReferenceCounts(file.size(), h.clusterBits(),
        new RefcountWidth(Math.max(order, h.refcountOrder())), new CheckTally(problem -> {}));
    for (long k = 0; k < counts.clusters(); k++) {
      long count = stored.get(k);
      if (order < 6 && Long.compareUnsigned(count, to.max()) > 0) {
        throw new BlockDeviceException(BlockError.EINVAL, "Cannot decrease refcount entry width to " + to.bits()
            + " bits: Cluster at offset 0x" + Long.toHexString(k << h.clusterBits()) + " has a refcount of "
            + Long.toUnsignedString(count));
      }
      counts.set(k, count);
    }
    return counts;
  }
}
