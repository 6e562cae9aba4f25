package dev.vdisk.format.qcow2;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdException;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.linux.Zlib;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Compresses one cluster as QEMU 7.2 does (qcow2-threads.c), the inverse of {@link ClusterDecompressor}.
 *
 * <ul>
 *   <li>zlib: a raw deflate stream (no zlib header) at the default level (6) with a 4 KiB window and memLevel 9,
 *       QEMU's {@code deflateInit2(-1, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY)}. The window matters: QEMU declares
 *       4 KiB for inflating too ({@code inflateInit2(-12)}); it gets by with longer matches only because it inflates a
 *       cluster in one call, and a reader that inflates piecewise with that window would not. The JDK's Deflater
 *       always uses 32 KiB, so this goes through the system's zlib ({@link Zlib}), the library QEMU uses: the
 *       compressed bytes are QEMU's.
 *   <li>zstd: one frame at zstd's default level (3), as QEMU's {@code ZSTD_compressStream2} with a fresh context.
 * </ul>
 *
 * <p>The output must fit in one byte less than a cluster, QEMU's bound: a cluster that does not compress that far
 * is stored uncompressed (the caller's job). Thread-safe: each call has its own compressor state, so clusters can
 * be compressed in parallel.
 */
final class ClusterCompressor {
  /** Z_DEFAULT_COMPRESSION. */
  private static final int ZLIB_LEVEL = 6;
  /** log2 of QEMU's deflate window. */
  private static final int ZLIB_WINDOW_BITS = 12;
  private static final int ZLIB_MEM_LEVEL = 9;
  /** ZSTD_CLEVEL_DEFAULT. */
  private static final int ZSTD_LEVEL = 3;

  private final CompressionType type;
  private final int clusterSize;

  ClusterCompressor(CompressionType type, int clusterSize) {
    this.type = type;
    this.clusterSize = clusterSize;
  }

  /**
   * Compresses {@code cluster} (position to limit, exactly one cluster; not consumed).
   *
   * @return the compressed bytes (position 0, limit their length, at most one cluster minus one byte), or null
   *     where they would not be smaller than that
   * @throws IOException EIO if the compressor fails for another reason
   */
  ByteBuffer compress(ByteBuffer cluster) throws IOException {
    if (cluster.remaining() != clusterSize) {
      throw new IllegalArgumentException("cluster: " + cluster.remaining() + " bytes (expected: " + clusterSize + ")");
    }
    byte[] in = bytes(cluster);
    byte[] out = new byte[clusterSize - 1];
    int n = switch (type) {
      case ZLIB -> deflate(in, out);
      case ZSTD -> zstd(in, out);
    };
    return n < 0 ? null : ByteBuffer.wrap(out, 0, n);
  }

  /** The cluster's bytes, without copying where the buffer is a whole array. */
  private static byte[] bytes(ByteBuffer cluster) {
    if (cluster.hasArray() && cluster.arrayOffset() == 0 && cluster.position() == 0
        && cluster.array().length == cluster.remaining()) {
      return cluster.array();
    }
    byte[] copy = new byte[cluster.remaining()];
    cluster.get(cluster.position(), copy);
    return copy;
  }

  /** Raw deflate into {@code out} through the system's zlib; the length, or -1 if it does not fit. */
  private static int deflate(byte[] in, byte[] out) throws IOException {
    return Zlib.deflateRaw(in, out, ZLIB_LEVEL, ZLIB_WINDOW_BITS, ZLIB_MEM_LEVEL);
  }

  /** One zstd frame into {@code out}; the length, or -1 if it does not fit. */
  private static int zstd(byte[] in, byte[] out) throws IOException {
    try (ZstdCompressCtx ctx = new ZstdCompressCtx()) {
      ctx.setLevel(ZSTD_LEVEL);
      return ctx.compressByteArray(out, 0, out.length, in, 0, in.length);
    } catch (ZstdException e) {
      if (e.getErrorCode() == Zstd.errDstSizeTooSmall()) {
        return -1;
      }
      throw new BlockDeviceException(BlockError.EIO, "qcow2: zstd compression failed: " + e.getMessage());
    }
  }
}
