package dev.vdisk.format.qcow2;

import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Lays out a new qcow2 image exactly as {@code qemu-img create} 7.2 does ({@code qcow2_co_create} followed by
 * {@code qcow2_co_truncate} from size 0): a header cluster, a one-cluster refcount table and one refcount block,
 * the L1 table, and with preallocation the L2 tables and data clusters in QEMU's order. {@code metadata} allocates
 * each L2 table just before the data it maps, so tables and data alternate; {@code falloc} and {@code full} first
 * build refcount structures that cover the whole image at the end of the file, then the data, then the L2 tables
 * (the first in the freed old refcount table cluster, the others after the data).
 *
 * <p>The result is a {@link PendingFile}: nothing is written here.
 */
final class Qcow2Creator {
  /** QEMU's {@code BDRV_REQUEST_MAX_BYTES}: the most one allocation request covers. */
  private static final long MAX_REQUEST = (Integer.MAX_VALUE >> 9) << 9;
  /** QEMU's limit on the L1 table: 32 MiB of entries. */
  static final long MAX_L1_ENTRIES = Qcow2Header.MAX_L1_BYTES / 8;

  private final Qcow2CreateOptions o;
  private final Geometry g;
  private final long cs;
  private final PendingFile file;
  private final RefcountAllocator alloc;
  private final boolean dataFile;
  private final PendingFile data;
  private long l1Offset;
  private long l1Size;

  /**
   * A guest range whose clusters were allocated and now need their L2 entries ({@code QCowL2Meta}).
   *
   * @param tail bytes after the request in its last cluster, which QEMU's copy-on-write fills with zeroes
   */
  private record Link(long guest, long host, long clusters, long tail) {}

  /**
   * The files of a new image.
   *
   * @param image the qcow2 file
   * @param dataFile what is written into the external data file after it is created as a raw image (the zeroes of
   *     a partial last cluster), or null without a data file
   */
  record Files(PendingFile image, PendingFile dataFile) {}

  private Qcow2Creator(Qcow2CreateOptions o) throws IOException {
    this.o = o;
    this.g = o.geometry();
    this.cs = g.clusterSize();
    this.dataFile = o.dataFile().isPresent();
    this.file = new PendingFile(o.clusterBits());
    this.data = dataFile ? new PendingFile(o.clusterBits()) : null;
    file.wrote(0, cs);
    long[] table = new long[(int) (cs / 8)];
    table[0] = 2 * cs;
    file.cluster(cs).putLong(0, 2 * cs);
    file.wrote(cs, 2 * cs);
    this.alloc = new RefcountAllocator(new PendingRefcountBlocks(file), o.clusterBits(), o.refcountWidth(), cs, table, 0, false);
    if (alloc.allocClusters(3 * cs) != 0) {
      throw new IllegalStateException("the first clusters of a new image are free");
    }
  }

  /** The L1 entries an image of {@code size} bytes needs, or an error naming the limit. */
  static long l1Entries(long size, Geometry g) {
    long entries = g.l1EntriesFor(size);
    if (entries > MAX_L1_ENTRIES) {
      throw new IllegalArgumentException("size: " + size + " (expected: at most "
          + MAX_L1_ENTRIES * g.bytesPerL2() + " bytes at cluster_size " + g.clusterSize() + "; try a larger cluster_size)");
    }
    return entries;
  }

  /**
   * The file of a new image of {@code size} bytes (a multiple of 512) made with {@code o}.
   *
   * @throws IOException when the image cannot be laid out within QEMU's limits
   */
  static Files layOut(Qcow2CreateOptions o, long size) throws IOException {
    Qcow2Creator c = new Qcow2Creator(o);
    c.truncate(size);
    HeaderEncoder.encode(c.file.cluster(0), o, new HeaderEncoder.Tables(size, c.l1Size, c.l1Offset,
        c.alloc.tableOffset(), c.alloc.tableClusters()));
    return new Files(c.file, c.data);
  }

  private void truncate(long size) throws IOException {
    growL1(l1Entries(size, g));
    switch (o.preallocation()) {
      case OFF -> { }
      case METADATA -> preallocateMetadata(size);
      case FALLOC, FULL -> {
        if (dataFile) {
          preallocateMetadata(size);
        } else {
          preallocateData(size, o.preallocation());
        }
      }
    }
  }

  /** {@code qcow2_grow_l1_table} from an empty table to exactly {@code entries}. */
  private void growL1(long entries) throws IOException {
    if (entries == 0) {
      return;
    }
    l1Offset = alloc.allocClusters(entries * 8);
    file.wrote(l1Offset, entries * 8);
    l1Size = entries;
  }

  /** {@code preallocate_co}: allocation requests over the whole disk, each linked into its L2 tables. */
  private void preallocateMetadata(long size) throws IOException {
    long offset = 0;
    long bytes = size;
    long hostOffset = 0;
    long cur = 0;
    long maxChunk = Integer.MAX_VALUE & -cs;
    while (bytes > 0) {
      cur = Math.min(bytes, maxChunk);
      List<Link> links = new ArrayList<>();
      long[] result = allocHostOffset(offset, cur, links);
      hostOffset = result[0];
      cur = result[1];
      for (Link l : links) {
        link(l);
      }
      bytes -= cur;
      offset += cur;
    }
    // QEMU extends the file to the end of the last cluster allocated.
    long end = hostOffset + Math.ceilDiv(cur, cs) * cs;
    if (!dataFile && end > file.length()) {
      file.truncate(end);
    }
  }

  /**
   * {@code qcow2_alloc_host_offset}: allocates clusters for as much of {@code [offset, offset + bytes)} as can be
   * contiguous in the file.
   *
   * @return the host offset of {@code offset} and the bytes covered
   */
  private long[] allocHostOffset(long offset, long bytes, List<Link> links) throws IOException {
    long start = offset;
    long remaining = bytes;
    long clusterOffset = -1;
    long hostOffset = -1;
    long cur = 0;
    while (true) {
      if (hostOffset == -1 && clusterOffset != -1) {
        hostOffset = clusterOffset;
      }
      start += cur;
      remaining -= cur;
      if (clusterOffset != -1) {
        clusterOffset += cur;
      }
      if (remaining == 0) {
        break;
      }
      cur = remaining;
      // handle_alloc: no cluster of a new image is allocated yet, so handle_copied never applies.
      long inCluster = start & (cs - 1);
      long l2Index = (start >>> o.clusterBits()) & ((1L << g.l2Bits()) - 1);
      long n = Math.ceilDiv(inCluster + cur, cs);
      n = Math.min(n, (1L << g.l2Bits()) - l2Index);
      n = Math.min(n, MAX_REQUEST >>> o.clusterBits());
      l2Table(start);
      long allocOffset = clusterOffset == -1 ? -1 : clusterOffset & -cs;
      if (dataFile) {
        allocOffset = start & -cs;
      } else if (allocOffset == -1) {
        allocOffset = alloc.allocClusters(n * cs);
      } else {
        n = alloc.allocClustersAt(allocOffset, n);
      }
      if (n == 0) {
        cur = 0;
        break;
      }
      long covered = Math.min(inCluster + cur, n * cs);
      links.add(new Link(start & -cs, allocOffset, n, n * cs - covered));
      cur = covered - inCluster;
      clusterOffset = allocOffset + inCluster;
    }
    return new long[] {hostOffset, bytes - remaining};
  }

  /**
   * The falloc/full branch of {@code qcow2_co_truncate}: refcount structures for everything at the end of the
   * file, the data clusters after them (reserved or zero-written), then the L2 entries.
   */
  private void preallocateData(long size, Preallocation mode) throws IOException {
    long oldFileSize = Math.ceilDiv(file.length(), cs) * cs;
    long last = alloc.lastUsedCluster(oldFileSize / cs);
    oldFileSize = last >= 0 ? (last + 1) * cs : 0;
    long dataClusters = Math.ceilDiv(size, cs);
    long l2Tables = Math.ceilDiv(dataClusters, 1L << g.l2Bits()) + 1;
    long start = alloc.refcountArea(oldFileSize, dataClusters + l2Tables, true, 0, 0);
    if (alloc.allocClustersAt(start, dataClusters) != dataClusters) {
      throw new IllegalStateException("the clusters after new refcount structures are free");
    }
    file.grow(start + dataClusters * cs, mode);
    long host = start;
    long guest = 0;
    while (dataClusters > 0) {
      long l2Index = (guest >>> o.clusterBits()) & ((1L << g.l2Bits()) - 1);
      long n = Math.min(dataClusters, (1L << g.l2Bits()) - l2Index);
      link(new Link(guest, host, n, 0));
      guest += n * cs;
      host += n * cs;
      dataClusters -= n;
    }
  }

  /**
   * {@code qcow2_alloc_cluster_link_l2} for preallocated clusters: the copy-on-write of the tail of a partial last
   * cluster (zeroes, since a new image reads as zeroes), then entries with the COPIED flag and no subclusters.
   */
  private void link(Link l) throws IOException {
    if (l.tail() > 0) {
      (dataFile ? data : file).wrote(l.host() + l.clusters() * cs - l.tail(), l.tail());
    }
    long l2 = l2Table(l.guest());
    ByteBuffer table = file.cluster(l2);
    long index = (l.guest() >>> o.clusterBits()) & ((1L << g.l2Bits()) - 1);
    for (long i = 0; i < l.clusters(); i++) {
      table.putLong((int) ((index + i) * 8 * g.wordsPerEntry()), (l.host() + i * cs) | Geometry.COPIED);
    }
  }

  /** {@code get_cluster_table}: the L2 table mapping {@code guest}, allocated (zeroed) and entered in L1 if new. */
  private long l2Table(long guest) throws IOException {
    long l1Index = guest >>> (o.clusterBits() + g.l2Bits());
    long entryAt = l1Offset + l1Index * 8;
    ByteBuffer l1Cluster = file.cluster(entryAt & -cs);
    long entry = l1Cluster.getLong((int) (entryAt & (cs - 1)));
    if (entry != 0) {
      return entry & Geometry.OFFSET_MASK;
    }
    long l2 = alloc.allocClusters(cs);
    file.cluster(l2);
    file.wrote(l2, cs);
    l1Cluster.putLong((int) (entryAt & (cs - 1)), l2 | Geometry.COPIED);
    file.wrote(entryAt, 8);
    return l2;
  }
}
