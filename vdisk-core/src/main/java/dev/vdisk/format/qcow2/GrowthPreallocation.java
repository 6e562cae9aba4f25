package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Geometry.roundUp;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * The clusters a preallocated growth ({@code qemu-img resize --preallocation}) allocates, where QEMU 7.2's {@code
 * qcow2_co_truncate} allocates them, so that {@code qemu-img map} shows the same host offsets and the file has the
 * same size and blocks. Used by {@link ImageResize} under the metadata lock, after the L1 table grew and before the
 * header's size changes; the caller's write-back makes the new entries durable after the refcounts and data.
 *
 * <p>{@link #metadata} is {@code preallocate_co}: the grown guest range mapped to host clusters the file does not
 * hold yet (the file only reaches the last one), L2 tables allocated before the data they map; with an external
 * data file the clusters are the guest offsets there, and the data file grows with the mode. {@link #data} is the
 * {@code falloc}/{@code full} branch for data in the image file: new refcount structures at the end of the file,
 * covering the data clusters after them, the file grown over those with the mode, then the L2 entries.
 */
final class GrowthPreallocation {
  /** QEMU's {@code preallocate_co} step: at most this many bytes per {@code qcow2_alloc_host_offset} call. */
  private static final long MAX_STEP = Integer.MAX_VALUE;

  private final BlockDevice file;
  private final BlockDevice data;
  private final boolean dataFile;
  private final Geometry geometry;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  private final ClusterEntries entries;
  private final MetadataWriteBack writeBack;
  private final Qcow2Writer.GuestReader current;
  private final AllocatingWriter writer;

  /**
   * @param data where guest clusters live: {@code file}, or the external data file
   * @param current reads the image's guest bytes (the copy-on-write of a partial first cluster)
   * @param writer decides the copy-on-write of a run as for a write ({@link AllocatingWriter#cowStartFrom})
   */
  GrowthPreallocation(BlockDevice file, BlockDevice data, Geometry geometry, L2Cache l2, RefcountStore refcounts,
      ClusterEntries entries, MetadataWriteBack writeBack, Qcow2Writer.GuestReader current, AllocatingWriter writer) {
    this.file = file;
    this.data = data;
    this.dataFile = EncryptingDevice.external(file, data);
    this.geometry = geometry;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.entries = entries;
    this.writeBack = writeBack;
    this.current = current;
    this.writer = writer;
  }

  /**
   * {@code preallocate_co} over the guest range {@code [from, to)}: clusters the image owns stay; runs of others get
   * new clusters (per L2 table, the table first; a run continues where the previous one ended on the host if that is
   * free, else takes the first free run), their entries COPIED with subcluster bitmaps unchanged, the part of a
   * partial first cluster before {@code from} copied and the part of the last after {@code to} written with zeroes
   * (QEMU's copy-on-write). Then the file that holds the data is grown to the host end of the last step, with
   * {@code mode} for an external data file (metadata there means off).
   */
  void metadata(long from, long to, Preallocation mode) throws IOException {
    long cs = geometry.clusterSize();
    long stepBytes = MAX_STEP & -cs;
    long stepEnd = from;
    long expected = -1;
    long reach = 0;
    long pos = from;
    while (pos < to) {
      if (pos >= stepEnd) {
        // The call's bytes are used up: the next call continues nothing on the host.
        stepEnd = Math.min(to, pos + stepBytes);
        expected = -1;
      }
      long[] table = l2.get(entries.writableTable(geometry.l1Index(pos)));
      long runStart = pos & ~geometry.clusterMask();
      long first = L2Cache.word(table, geometry.entryIndex(pos));
      boolean owned = !entries.needsNewAlloc(first);
      long runEnd = runEnd(table, pos, stop(pos, stepEnd), owned);
      long host;
      long got = 0;
      if (owned) {
        host = first & Geometry.OFFSET_MASK;
      } else if (dataFile) {
        host = runStart;
      } else {
        got = expected < 0 ? 0 : refcounts.allocateAt(expected, (runEnd - runStart) / cs);
        host = got > 0 ? expected : -1;
      }
      if (!dataFile && host != expected) {
        // Not where the call's previous run ended on the host: QEMU's call returns, and the next one, starting
        // here, may reach further.
        stepEnd = Math.min(to, pos + stepBytes);
        runEnd = runEnd(table, pos, stop(pos, stepEnd), owned);
      }
      if (!owned && !dataFile) {
        long clusters = got > 0 ? got : (runEnd - runStart) / cs;
        host = got > 0 ? host : refcounts.allocate((int) clusters);
        runEnd = runStart + clusters * cs;
        zeroReused(host, clusters * cs);
      }
      long end = Math.min(runEnd, stop(pos, stepEnd));
      if (!owned || !writer.allNormal(table, pos, end)) {
        // calculate_l2_meta: a new run, or clusters the image owns with subclusters that hold no data yet.
        long last = L2Cache.word(table, geometry.entryIndex(end - 1));
        long cowFrom = writer.cowStartFrom(first, entries.bitmap(table, pos), geometry.subcluster(pos), owned, pos - runStart);
        long cowTo = writer.cowEndTo(last, entries.bitmap(table, end - 1), geometry.subcluster(end - 1), owned,
            end - runStart);
        copyOnWrite(runStart + cowFrom, pos, end, runStart + cowTo, host - runStart);
      }
      if (!owned) {
        link(runStart, host, (int) ((runEnd - runStart) / cs), false);
      }
      expected = host + (runEnd - runStart);
      reach = host + (end - runStart);
      pos = end;
    }
    if (reach > data.size()) {
      grow(data, reach, mode == Preallocation.METADATA ? Preallocation.OFF : mode);
    }
  }

  /** Where a run from {@code pos} must end at the latest: the call's end or its L2 table's, whichever is first. */
  private long stop(long pos, long stepEnd) {
    return Math.min(stepEnd, (pos | (geometry.bytesPerL2() - 1)) + 1);
  }

  /**
   * The end of the run of clusters from {@code pos} to at most {@code stop} that are all {@code owned} (and then
   * follow each other on the host) or all in need of new clusters: QEMU's {@code count_single_write_clusters}.
   */
  private long runEnd(long[] table, long pos, long stop, boolean owned) {
    long first = L2Cache.word(table, geometry.entryIndex(pos));
    long runEnd = geometry.clusterEnd(pos);
    long nextHost = (first & Geometry.OFFSET_MASK) + geometry.clusterSize();
    while (runEnd < stop) {
      long w = L2Cache.word(table, geometry.entryIndex(runEnd));
      if (entries.needsNewAlloc(w) == owned || owned && (w & Geometry.OFFSET_MASK) != nextHost) {
        break;
      }
      runEnd += geometry.clusterSize();
      nextHost += geometry.clusterSize();
    }
    return runEnd;
  }

  /**
   * {@code qcow2_co_truncate}'s falloc/full branch for data in the image file over the guest range {@code [from,
   * to)}: the clusters from the one holding {@code from} on are new, after refcount structures made at the end of
   * what the refcounts use (covering the clusters and their L2 tables) and made durable at once; the file is grown
   * over them with {@code mode}; then their entries, the partial first cluster's old bytes copied.
   *
   * @param zeroed the grown range must read as zeroes over a longer backing file: QEMU's truncate of the file
   *     with {@code BDRV_REQ_ZERO_WRITE}, after which the new clusters' subclusters are marked allocated (their
   *     zeroes are the data) rather than left to the backing file
   */
  void data(long from, long to, Preallocation mode, boolean zeroed) throws IOException {
    long cs = geometry.clusterSize();
    long fileSize = file.size();
    long last = refcounts.lastUsedCluster(Math.ceilDiv(fileSize, cs));
    long used = last >= 0 ? (last + 1) * cs : roundUp(fileSize, cs);
    long runStart = from & ~geometry.clusterMask();
    long clusters = (roundUp(to, cs) - runStart) / cs;
    long entriesPerTable = 1L << geometry.l2Bits();
    long start = refcounts.refcountArea(used, clusters + Math.ceilDiv(clusters, entriesPerTable) + 1);
    // The new table and blocks durable, and named by the header, before any cluster they count is used.
    writeBack.flushMetadata();
    if (refcounts.allocateAt(start, clusters) != clusters) {
      throw new IllegalStateException("the clusters after new refcount structures are free");
    }
    zeroReused(start, clusters * cs);
    grow(file, start + clusters * cs, mode);
    long guest = runStart;
    long host = start;
    while (clusters > 0) {
      long n = Math.min(clusters, entriesPerTable - geometry.entryIndex(guest) / geometry.wordsPerEntry());
      copyOnWrite(guest, Math.max(guest, from), guest + n * cs, guest + n * cs, host - guest);
      link(guest, host, (int) n, zeroed);
      guest += n * cs;
      host += n * cs;
      clusters -= n;
    }
  }

  /**
   * QEMU's {@code perform_cow} for the request {@code [pos, end)} whose clusters lie at guest offset + {@code delta}
   * on the host: the guest bytes of {@code [cowStart, pos)} (the image as it is), and zeroes for {@code [end,
   * cowEnd)} (past the old size, where the image reads as zeroes).
   */
  private void copyOnWrite(long cowStart, long pos, long end, long cowEnd, long delta) throws IOException {
    if (pos > cowStart) {
      ByteBuffer head = ByteBuffer.allocate((int) (pos - cowStart));
      current.read(cowStart, head);
      data.write(cowStart + delta, head.clear(), Set.of());
    }
    if (end < cowEnd) {
      data.write(end + delta, ByteBuffer.allocate((int) (cowEnd - end)), Set.of());
    }
  }

  /**
   * Zeroes what the image file holds of {@code length} bytes of new clusters at {@code host}: clusters freed earlier
   * (an old L1 or refcount table keeps its bytes when freed, and a file without discard keeps every freed cluster's)
   * that a preallocation maps without writing them. QEMU leaves their old bytes under the new entries; here the
   * grown part reads as zeroes, as a growth promises. Past the end of the file there is nothing to do.
   */
  private void zeroReused(long host, long length) throws IOException {
    long inside = Math.min(host + length, file.size()) - host;
    if (inside > 0) {
      file.writeZeroes(host, inside, Set.of(WriteFlag.MAY_TRIM));
    }
  }

  /**
   * Points {@code clusters} guest clusters from {@code guest} (in one L2 table) at {@code host} on, COPIED, with
   * extended L2 entries their bitmaps kept (QEMU's {@code prealloc}) or, with {@code allSubclusters}, every subcluster
   * allocated.
   */
  private void link(long guest, long host, int clusters, boolean allSubclusters) throws IOException {
    int step = geometry.wordsPerEntry();
    long[] words = new long[clusters * step];
    for (int k = 0; k < clusters; k++) {
      long at = guest + ((long) k << geometry.clusterBits());
      words[k * step] = (host + ((long) k << geometry.clusterBits())) | Geometry.COPIED;
      long replaced = entries.entryWord(at);
      if (!dataFile && entries.kind(replaced).ownsCluster()) {
        // qcow2_alloc_cluster_link_l2 frees a replaced cluster without a discard.
        refcounts.keepBytes(replaced & Geometry.OFFSET_MASK, 1);
      }
      if (step > 1) {
        words[k * step + 1] = allSubclusters ? Geometry.allocRange(0, 32) : entries.entryBitmap(at);
      }
    }
    entries.setEntries(guest, words);
  }

  /**
   * Grows {@code device} to {@code end} as QEMU's file driver truncates with a preallocation mode: reserved or
   * zero-written from its old end on where it is a host file.
   */
  private static void grow(BlockDevice device, long end, Preallocation mode) throws IOException {
    long old = device.size();
    device.resize(end);
    FileDevice host = FilterDevice.find(device, FileDevice.class);
    if (host != null && mode != Preallocation.OFF) {
      host.preallocate(old, end - old, mode);
    }
  }
}
