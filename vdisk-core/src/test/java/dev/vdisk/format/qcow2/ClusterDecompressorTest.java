package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.luben.zstd.Zstd;
import dev.vdisk.block.BlockDeviceException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

class ClusterDecompressorTest {
  private static final int CLUSTER = 65536;

  private static byte[] cluster(int size) {
    byte[] b = new byte[size];
    Random rnd = new Random(size);
    for (int i = 0; i < size; i++) {
      b[i] = (byte) (rnd.nextInt(4) + i / 1000);
    }
    return b;
  }

  private static byte[] deflate(byte[] data) {
    Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
    d.setInput(data);
    d.finish();
    byte[] out = new byte[data.length * 2 + 64];
    int n = d.deflate(out);
    d.end();
    return Arrays.copyOf(out, n);
  }

  private static byte[] withTrailer(byte[] data, int extra) {
    byte[] b = Arrays.copyOf(data, data.length + extra);
    Arrays.fill(b, data.length, b.length, (byte) 0x5a);
    return b;
  }

  private static byte[] run(CompressionType type, byte[] compressed, int clusterSize) throws Exception {
    ByteBuffer out = ByteBuffer.allocate(clusterSize);
    new ClusterDecompressor(type).decompress(ByteBuffer.wrap(compressed), out, "test cluster");
    return out.array();
  }

  @Test
  void deflateWithTrailingSectorBytes() throws Exception {
    byte[] data = cluster(CLUSTER);
    assertThat(run(CompressionType.ZLIB, withTrailer(deflate(data), 300), CLUSTER)).isEqualTo(data);
  }

  @Test
  void zstdWithTrailingSectorBytes() throws Exception {
    byte[] data = cluster(CLUSTER);
    assertThat(run(CompressionType.ZSTD, withTrailer(Zstd.compress(data), 300), CLUSTER)).isEqualTo(data);
  }

  @Test
  void shortOutputIsAnError() {
    byte[] half = cluster(CLUSTER / 2);
    assertThatThrownBy(() -> run(CompressionType.ZLIB, deflate(half), CLUSTER))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessage("test cluster: decompressed size: 32768 bytes (expected: 65536, one cluster)");
    assertThatThrownBy(() -> run(CompressionType.ZSTD, Zstd.compress(half), CLUSTER))
        .hasMessage("test cluster: decompressed size: 32768 bytes (expected: 65536, one cluster)");
  }

  @Test
  void truncatedInputIsAnError() {
    byte[] z = deflate(cluster(CLUSTER));
    assertThatThrownBy(() -> run(CompressionType.ZLIB, Arrays.copyOf(z, z.length / 2), CLUSTER))
        .hasMessageContaining("decompressed size");
    byte[] s = Zstd.compress(cluster(CLUSTER));
    assertThatThrownBy(() -> run(CompressionType.ZSTD, Arrays.copyOf(s, s.length / 2), CLUSTER))
        .hasMessageContaining("decompressed size");
  }

  @Test
  void moreThanOneClusterIsNeverProduced() {
    byte[] twice = cluster(2 * CLUSTER);
    // Deflate stops at one cluster (QEMU accepts that: the rest is the next cluster's tail).
    assertThat(catching(() -> run(CompressionType.ZLIB, deflate(twice), CLUSTER))).isEqualTo(Arrays.copyOf(twice, CLUSTER));
    assertThatThrownBy(() -> run(CompressionType.ZSTD, Zstd.compress(twice), CLUSTER))
        .hasMessage("test cluster: zstd frame: continues past one cluster (expected: a frame of exactly one cluster)");
  }

  @Test
  void garbageIsAnError() {
    byte[] junk = new byte[4096];
    new Random(7).nextBytes(junk);
    assertThatThrownBy(() -> run(CompressionType.ZLIB, junk, CLUSTER)).isInstanceOf(BlockDeviceException.class);
    assertThatThrownBy(() -> run(CompressionType.ZSTD, junk, CLUSTER))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining("test cluster: zstd data: invalid");
  }

  private static byte[] catching(ThrowingSupplier s) {
    try {
      return s.get();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @FunctionalInterface
  private interface ThrowingSupplier {
    byte[] get() throws Exception;
  }
}
