package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.corrupt;
import static dev.vdisk.format.qcow2.Qcow2Errors.hex;

import java.io.IOException;

/**
 * What an L2 entry says about one guest cluster, or with extended L2 entries about one subcluster. Offsets are
 * of the host cluster's start; {@link #NO_OFFSET} where the entry has none.
 */
sealed interface L2Entry {
  long NO_OFFSET = -1;

  /** The host offset the entry names, or {@link #NO_OFFSET}: a cluster's start, or a compressed cluster's first byte. */
  long hostOffset();

  /** Not defined by this image: reads go to the backing image (zeroes without one). */
  record Unallocated(long hostOffset) implements L2Entry {}

  /** Reads as zeroes; {@code hostOffset} is preallocated storage, if any. */
  record Zero(long hostOffset) implements L2Entry {}

  /** Data at {@code hostOffset} in the image file (or in the external data file). */
  record Normal(long hostOffset) implements L2Entry {}

  /**
   * A compressed cluster: its data starts at any byte {@code hostOffset} and takes at most {@code maxBytes}
   * (the descriptor counts 512-byte sectors, so the real data may end earlier).
   */
  record Compressed(long hostOffset, int maxBytes) implements L2Entry {}

  /**
   * Turns raw L2 words into entries, with the consistency checks QEMU makes on reads. Reserved bits (1-8 and
   * 56-61 of standard descriptors) are ignored, as QEMU ignores them.
   */
  final class Decoder {
    private static final long MAX_HOST_OFFSET = 1L << 56;

    private final Geometry geometry;
    private final boolean zeroFlagAllowed;
    private final boolean dataFile;
    private final long compressedOffsetMask;
    private final long compressedSectorMask;

    /**
     * @param version 2 or 3: version 2 has no zero clusters
     * @param dataFile guest data is in an external data file: host offset = guest offset, no compression
     */
    Decoder(Geometry geometry, int version, boolean dataFile) {
      this.geometry = geometry;
      this.zeroFlagAllowed = version >= 3 && !geometry.extendedL2();
      this.dataFile = dataFile;
      this.compressedOffsetMask = (1L << geometry.compressedSizeShift()) - 1;
      this.compressedSectorMask = (1L << (geometry.clusterBits() - 8)) - 1;
    }

    /**
     * Decodes one entry.
     *
     * @param word the entry's first (or only) 64 bits
     * @param bitmap with extended L2: the subcluster allocation (bits 0-31) and zero (bits 32-63) bitmaps; else 0
     * @param subcluster which subcluster of the cluster is asked about (0 without extended L2)
     * @param guestCluster guest offset of the cluster, to check data file mappings and to name it in errors
     * @throws IOException EIO for an entry no valid image has
     */
    L2Entry decode(long word, long bitmap, int subcluster, long guestCluster) throws IOException {
      if ((word & Geometry.COMPRESSED) != 0) {
        return compressed(word, bitmap, guestCluster);
      }
      long host = word & Geometry.OFFSET_MASK;
      // With a data file, offset 0 is a real cluster; the COPIED bit tells it from an unallocated entry.
      boolean hasHost = host != 0 || (dataFile && (word & Geometry.COPIED) != 0);
      if (hasHost && (host & geometry.clusterMask()) != 0) {
        throw corrupt("L2 entry for guest offset " + guestCluster + ": host offset", hex(host),
            "a multiple of the cluster size " + geometry.clusterSize());
      }
      if (hasHost && dataFile && host != guestCluster) {
        throw corrupt("L2 entry for guest offset " + guestCluster + ": data file offset", host,
            guestCluster + ": an external data file maps every cluster to its guest offset");
      }
      long hostOrNone = hasHost ? host : NO_OFFSET;
      if (!geometry.extendedL2()) {
        if ((word & Geometry.ZERO) != 0) {
          if (!zeroFlagAllowed) {
            throw corrupt("L2 entry for guest offset " + guestCluster + ": zero flag", "set", "unset in a version 2 image");
          }
          return new Zero(hostOrNone);
        }
        return hasHost ? new Normal(host) : new Unallocated(NO_OFFSET);
      }
      int allocated = (int) bitmap;
      int zero = (int) (bitmap >>> 32);
      if ((allocated & zero) != 0) {
        throw corrupt("L2 bitmap for guest offset " + guestCluster, hex(bitmap),
            "no subcluster both allocated and zero (bits " + hex((allocated & zero) & 0xffffffffL) + " are)");
      }
      int bit = 1 << subcluster;
      if ((zero & bit) != 0) {
        return new Zero(hostOrNone);
      }
      if ((allocated & bit) != 0) {
        if (!hasHost) {
          throw corrupt("L2 entry for guest offset " + guestCluster + ": subcluster " + subcluster,
              "allocated without a host offset", "a host offset for allocated subclusters");
        }
        return new Normal(host);
      }
      return new Unallocated(hostOrNone);
    }

    /**
     * The host offset of the cluster's start if {@link #decode} answers {@link Normal} for each of its (sub)clusters
     * {@code firstSub} to {@code lastSub} (0 and 0 without extended L2), else {@link #NO_OFFSET}, also where decode
     * would throw (the caller then decodes, which reports it). Allocates nothing, unlike decode's answer: the
     * request path's usual case, bytes inside one data cluster.
     */
    long dataHost(long word, long bitmap, int firstSub, int lastSub, long guestCluster) {
      if ((word & Geometry.COMPRESSED) != 0) {
        return NO_OFFSET;
      }
      long host = word & Geometry.OFFSET_MASK;
      boolean hasHost = host != 0 || (dataFile && (word & Geometry.COPIED) != 0);
      if (!hasHost || (host & geometry.clusterMask()) != 0 || (dataFile && host != guestCluster)) {
        return NO_OFFSET;
      }
      if (!geometry.extendedL2()) {
        return (word & Geometry.ZERO) != 0 ? NO_OFFSET : host;
      }
      int allocated = (int) bitmap;
      int zero = (int) (bitmap >>> 32);
      int wanted = (int) Geometry.allocRange(firstSub, lastSub + 1);
      return (allocated & zero) == 0 && (allocated & wanted) == wanted ? host : NO_OFFSET;
    }

    private L2Entry compressed(long word, long bitmap, long guestCluster) throws IOException {
      if (dataFile) {
        throw corrupt("L2 entry for guest offset " + guestCluster, "compressed",
            "no compressed clusters in an image with an external data file");
      }
      if (geometry.extendedL2() && bitmap != 0) {
        throw corrupt("L2 bitmap of compressed cluster at guest offset " + guestCluster, hex(bitmap), "0");
      }
      long host = word & compressedOffsetMask;
      if (host >= MAX_HOST_OFFSET || host < geometry.clusterSize()) {
        throw corrupt("compressed cluster at guest offset " + guestCluster + ": host offset", hex(host),
            "after the header cluster and below 2^56");
      }
      long sectors = ((word >>> geometry.compressedSizeShift()) & compressedSectorMask) + 1;
      return new Compressed(host, (int) (sectors * 512 - (host & 511)));
    }
  }
}
