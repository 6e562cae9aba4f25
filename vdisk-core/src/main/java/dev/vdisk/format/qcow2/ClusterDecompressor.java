package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.corrupt;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Decompresses one cluster. The output buffer is exactly one cluster, so no input can make it produce more;
 * input that does not fill the cluster is an error, as in QEMU. The compressed input may carry trailing bytes
 * (the descriptor counts whole sectors, and the next cluster's data may share the last one): decoding stops
 * when the cluster is full rather than insisting on consuming all input.
 */
final class ClusterDecompressor {
  private final CompressionType type;

  ClusterDecompressor(CompressionType type) {
    this.type = type;
  }

  /**
   * Fills {@code cluster} (position to limit, one cluster) from the compressed bytes in {@code src}.
   *
   * @param where names the cluster in error messages
   * @throws IOException EIO if the data is not a valid stream or does not make exactly one cluster
   */
  void decompress(ByteBuffer src, ByteBuffer cluster, String where) throws IOException {
    int want = cluster.remaining();
    switch (type) {
      case ZLIB -> inflate(src, cluster, where);
      case ZSTD -> unzstd(src, cluster, where);
    }
    if (cluster.hasRemaining()) {
      throw corrupt(where + ": decompressed size", (want - cluster.remaining()) + " bytes",
          want + ", one cluster");
    }
  }

  private static void inflate(ByteBuffer src, ByteBuffer cluster, String where) throws IOException {
    Inflater inflater = new Inflater(true);
    try {
      inflater.setInput(src);
      while (cluster.hasRemaining()) {
        long read = inflater.getBytesRead();
        int n = inflater.inflate(cluster);
        // No progress: the stream finished, or the input ended before the cluster was full.
        if (n == 0 && inflater.getBytesRead() == read) {
          return;
        }
      }
    } catch (DataFormatException e) {
      throw corrupt(where + ": deflate data", "invalid (" + e.getMessage() + ")", "a raw deflate stream", e);
    } finally {
      inflater.end();
    }
  }

  private static void unzstd(ByteBuffer src, ByteBuffer cluster, String where) throws IOException {
    try (ZstdDecompressCtx ctx = new ZstdDecompressCtx()) {
      boolean frameDone = false;
      while (cluster.hasRemaining() && !frameDone) {
        int in = src.position();
        int out = cluster.position();
        frameDone = ctx.decompressByteBufferStream(cluster, src);
        if (src.position() == in && cluster.position() == out) {
          // No progress: the input ended before the frame did.
          return;
        }
      }
      if (!frameDone) {
        throw corrupt(where + ": zstd frame", "continues past one cluster", "a frame of exactly one cluster");
      }
    } catch (ZstdException e) {
      throw corrupt(where + ": zstd data", "invalid (" + e.getMessage() + ")", "a zstd frame", e);
    }
  }
}
