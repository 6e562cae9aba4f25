package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Writes with {@link dev.vdisk.block.WriteFlag#COMPRESSED}, as QEMU 7.2's qcow2_co_pwritev_compressed_part: cluster by
 * cluster, each compressed on the calling thread (so parallel callers compress in parallel) and then stored by
 * {@link Qcow2Writer#writeCompressedCluster}. A cluster whose compressed form is not smaller than a cluster minus one
 * byte is written normally instead, uncompressed, as QEMU does. The last cluster of an image whose size is not a
 * multiple of the cluster size is compressed padded with zeroes.
 *
 * <p>Requests arrive validated by {@link dev.vdisk.block.CheckedDevice}: they start on a cluster boundary and cover
 * whole clusters, except that the last may end at the end of the image.
 */
final class CompressedWriter {
  private final Qcow2Writer writer;
  private final ClusterCompressor compressor;
  private final int clusterSize;

  CompressedWriter(Qcow2Writer writer, CompressionType type, int clusterSize) {
    this.writer = writer;
    this.compressor = new ClusterCompressor(type, clusterSize);
    this.clusterSize = clusterSize;
  }

  void write(long offset, ByteBuffer src) throws IOException {
    long guest = offset;
    while (src.hasRemaining()) {
      int n = Math.min(clusterSize, src.remaining());
      ByteBuffer chunk = src.slice(src.position(), n);
      ByteBuffer cluster = n == clusterSize ? chunk : ByteBuffer.allocate(clusterSize).put(chunk.duplicate()).clear();
      ByteBuffer packed = compressor.compress(cluster);
      if (packed == null) {
        writer.write(guest, chunk);
      } else {
        writer.writeCompressedCluster(guest, packed);
      }
      src.position(src.position() + n);
      guest += n;
    }
  }
}
