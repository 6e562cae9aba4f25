package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The first cluster of an image, parsed and checked: header, extensions, feature bits, compression type and the
 * mapping geometry. Both opening and checking an image start here, so both refuse the same headers.
 *
 * @param firstCluster the whole first cluster from offset 0 (zero-filled past the end of a shorter file), at most
 *     2 MiB
 */
record ImageHead(Qcow2Header header, HeaderExtensions extensions, Geometry geometry, ByteBuffer firstCluster) {
  /** Enough for any header and its compression_type byte; the first cluster is read whole only if bigger. */
  private static final int HEAD_BYTES = 4096;

  /** Reads and checks the head of {@code image}. */
  static ImageHead read(HostReader image) throws IOException {
    return read(image, false);
  }

  /**
   * Reads and checks the head of {@code image} for a check, as QEMU opens an image in check mode: the number of
   * snapshots is the check's to judge ({@link Qcow2Header#parse(ByteBuffer, boolean)}).
   */
  static ImageHead readForCheck(HostReader image) throws IOException {
    return read(image, true);
  }

  private static ImageHead read(HostReader image, boolean forCheck) throws IOException {
    ByteBuffer first = firstCluster(image, forCheck);
    Qcow2Header header = Qcow2Header.parse(first, forCheck);
    HeaderExtensions ext = HeaderExtensions.parse(first, header);
    Features.checkIncompatible(header.incompatibleFeatures(), ext.featureNames());
    CompressionType.of(header);
    boolean extendedL2 = (header.incompatibleFeatures() & Features.INCOMPAT_EXTENDED_L2) != 0;
    if (extendedL2 && header.clusterBits() < Qcow2Header.MIN_EXTENDED_L2_CLUSTER_BITS) {
      throw invalid("cluster_bits", header.clusterBits(),
          "at least " + Qcow2Header.MIN_EXTENDED_L2_CLUSTER_BITS + " with extended L2 entries");
    }
    return new ImageHead(header, ext, new Geometry(header.clusterBits(), extendedL2), first);
  }

  /** True if guest data lives in an external data file (incompatible feature bit 2). */
  boolean hasDataFile() {
    return (header.incompatibleFeatures() & Features.INCOMPAT_DATA_FILE) != 0;
  }

  /** The first cluster, zero-filled past the end of a file shorter than it. */
  private static ByteBuffer firstCluster(HostReader image, boolean forCheck) throws IOException {
    ByteBuffer head = ByteBuffer.allocate((int) Math.min(HEAD_BYTES, image.size()));
    image.readData(0, head);
    head.flip();
    int clusterSize = Qcow2Header.parse(head, forCheck).clusterSize();
    ByteBuffer first = ByteBuffer.allocate(Math.max(clusterSize, head.limit()));
    if (clusterSize > head.limit()) {
      image.readData(0, first);
      return first.clear();
    }
    return first.put(head).clear();
  }
}
