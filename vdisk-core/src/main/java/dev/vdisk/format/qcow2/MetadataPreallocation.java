package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.io.FileDevice;
import java.io.IOException;
import java.util.function.Consumer;

/**
 * The block status of data clusters in an image whose metadata was preallocated, as QEMU 7.2 reports it.
 * {@code preallocation=metadata} maps every guest cluster to a host cluster of a sparse file: the L2 entries say
 * "data" where the file holds nothing. QEMU notices such an image once per open
 * ({@code qcow2_detect_metadata_preallocation}: many more clusters in use by refcount than the file occupies on
 * the host) and from then on asks the file about every data run ({@code BDRV_BLOCK_RECURSE} in
 * {@code bdrv_co_block_status}): where the file has a hole, or has ended, the run reads as zeroes. Such a run stays
 * allocated data with its host offset ({@code qemu-img map}'s {@code "zero": true, "data": true}), and everything
 * built on block status (map, convert, compare, measure, NBD block status) treats it as zeroes.
 *
 * <p>Images written fully, or preallocated with {@code falloc} or {@code full}, occupy their clusters on the host,
 * so the probe says no and their data runs are reported as they are, without asking the file.
 */
final class MetadataPreallocation {
  /** Counts clusters in use by refcount, as {@link RefcountStore#countInUse}. */
  @FunctionalInterface
  interface InUseCounter {
    long count(long clusters, long stopAt) throws IOException;
  }

  private final BlockDevice file;
  private final BlockDevice data;
  private final int clusterBits;
  private final InUseCounter inUse;
  /** The probe's answer, made at the first question as QEMU makes it at the first block status; null before. */
  private volatile Boolean detected;

  /**
   * @param file the image file: its length, host allocation and refcounts decide
   * @param data where data clusters live (the image file, or the external data file): asked about each data run
   */
  MetadataPreallocation(BlockDevice file, BlockDevice data, int clusterBits, InUseCounter inUse) {
    this.file = file;
    this.data = data;
    this.clusterBits = clusterBits;
    this.inUse = inUse;
  }

  /**
   * Reports the data run of {@code length} guest bytes at {@code guest}, stored from {@code host} on, to {@code out}:
   * as one data extent in an image that is not preallocated; otherwise split where the data file's holes and data
   * meet, the holes as zero (still data, at their host offset), and past the end of the file as zero (reads there
   * give zeroes). Adjacent extents may have the same bits: the caller merges them.
   */
  void dataExtents(long guest, long length, long host, Consumer<Extent> out) throws IOException {
    if (!detected()) {
      out.accept(Extent.data(guest, length, host));
      return;
    }
    long fileSize = data.size();
    long done = 0;
    while (done < length && host + done < fileSize) {
      for (Extent f : data.extents(host + done, Math.min(length - done, fileSize - host - done))) {
        out.accept(new Extent(guest + done, f.length(), true, f.zero(), true, host + done));
        done += f.length();
      }
    }
    if (done < length) {
      out.accept(new Extent(guest + done, length - done, true, true, true, host + done));
    }
  }

  /** QEMU's probe, made once. */
  private boolean detected() {
    Boolean d = detected;
    if (d == null) {
      synchronized (this) {
        d = detected;
        if (d == null) {
          d = probe();
          detected = d;
        }
      }
    }
    return d;
  }

  /**
   * {@code qcow2_detect_metadata_preallocation}: with {@code real} the clusters' worth of host storage the file
   * occupies, at least {@code max(real * 10 / 9, real + 2)} of the file's clusters are in use by refcount. Where
   * the host allocation is unknown (a device that is not a host file) or the refcounts cannot be read, QEMU's
   * probe fails and the image counts as not preallocated: the answer only adds information, it is never an error.
   * A file with fewer clusters than the threshold cannot reach it, whatever its refcounts say (QEMU's loop over them
   * would end below it): its refcounts are not read. That is every image the host stores without holes, and it
   * spares a copy from such an image a walk of all its refcounts before its first write.
   */
  private boolean probe() {
    if (!(file instanceof FileDevice f)) {
      return false;
    }
    try {
      long real = f.allocatedBytes() >> clusterBits;
      long threshold = Math.max(real * 10 / 9, real + 2);
      long clusters = Math.ceilDiv(f.size(), 1L << clusterBits);
      return clusters >= threshold && inUse.count(clusters, threshold) >= threshold;
    } catch (IOException e) {
      return false;
    }
  }
}
