package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

class ClusterCompressorTest {

  /** Text-like data with repeats up to {@code reach} bytes back: compressible, with matches beyond 4 KiB. */
  private static byte[] compressible(int size, int reach) {
    byte[] b = new byte[size];
    Random rnd = new Random(size + reach);
    for (int i = 0; i < size; i++) {
      b[i] = i >= reach && rnd.nextInt(3) > 0 ? b[i - reach + rnd.nextInt(8)] : (byte) ('a' + rnd.nextInt(26));
    }
    return b;
  }

  private static byte[] random(int size) {
    byte[] b = new byte[size];
    new Random(size).nextBytes(b);
    return b;
  }

  private static byte[] roundTrip(CompressionType type, byte[] data) throws Exception {
    ByteBuffer packed = new ClusterCompressor(type, data.length).compress(ByteBuffer.wrap(data));
    assertThat(packed).as("compressed").isNotNull();
    assertThat(packed.remaining()).isLessThan(data.length);
    ByteBuffer out = ByteBuffer.allocate(data.length);
    new ClusterDecompressor(type).decompress(packed, out, "test cluster");
    return out.array();
  }

  @ParameterizedTest
  @CsvSource({"ZLIB, 512", "ZLIB, 4096", "ZLIB, 65536", "ZLIB, 2097152", "ZSTD, 512", "ZSTD, 65536", "ZSTD, 2097152"})
  void roundTrips(CompressionType type, int clusterSize) throws Exception {
    byte[] data = compressible(clusterSize, Math.min(clusterSize / 2, 20000));
    assertThat(roundTrip(type, data)).isEqualTo(data);
    byte[] zeroes = new byte[clusterSize];
    assertThat(roundTrip(type, zeroes)).isEqualTo(zeroes);
  }

  @ParameterizedTest
  @EnumSource(CompressionType.class)
  void incompressibleClustersAreLeftToTheCaller(CompressionType type) throws Exception {
    assertThat(new ClusterCompressor(type, 65536).compress(ByteBuffer.wrap(random(65536)))).isNull();
  }

  @ParameterizedTest
  @EnumSource(CompressionType.class)
  void readsFromThePositionWithoutConsuming(CompressionType type) throws Exception {
    byte[] data = compressible(4096, 1000);
    ByteBuffer framed = ByteBuffer.allocate(4096 + 100).position(100);
    framed.put(data).position(100);
    ByteBuffer packed = new ClusterCompressor(type, 4096).compress(framed);
    assertThat(framed.position()).isEqualTo(100);
    ByteBuffer out = ByteBuffer.allocate(4096);
    new ClusterDecompressor(type).decompress(packed, out, "test cluster");
    assertThat(out.array()).isEqualTo(data);
  }

  /**
   * QEMU declares a 4 KiB window for its streams (it deflates and inflates with windowBits -12). It inflates a whole
   * cluster in one call, which also gets by with longer matches, but a reader that inflates piecewise with that window
   * cannot: such a reader must get the cluster back from vdisk's streams, and does not from the JDK's Deflater (32 KiB
   * window), which shows that the check can fail.
   */
  @org.junit.jupiter.api.Test
  void zlibStreamsKeepToQemusWindow() throws Exception {
    byte[] data = compressible(65536, 20000);
    ByteBuffer packed = new ClusterCompressor(CompressionType.ZLIB, data.length).compress(ByteBuffer.wrap(data));
    assertThat(inflatePiecewiseWith4kWindow(java.util.Arrays.copyOf(packed.array(), packed.remaining()), data.length))
        .isEqualTo(data);

    java.util.zip.Deflater jdk = new java.util.zip.Deflater(6, true);
    jdk.setInput(data);
    jdk.finish();
    byte[] out = new byte[data.length];
    byte[] wide = java.util.Arrays.copyOf(out, jdk.deflate(out));
    jdk.end();
    assertThat(inflatePiecewiseWith4kWindow(wide, data.length)).as("a 32 KiB-window stream").isNotEqualTo(data);
  }

  /** Inflates 512 bytes at a time with a 4 KiB window, so matches further back than that cannot be resolved. */
  private static byte[] inflatePiecewiseWith4kWindow(byte[] stream, int size) throws Exception {
    com.jcraft.jzlib.Inflater inf = new com.jcraft.jzlib.Inflater(-12);
    byte[] out = new byte[size];
    inf.setInput(stream, 0, stream.length, false);
    int pos = 0;
    while (pos < size) {
      inf.setOutput(out, pos, Math.min(512, size - pos));
      int rc = inf.inflate(com.jcraft.jzlib.JZlib.Z_NO_FLUSH);
      int now = (int) inf.getTotalOut();
      if (rc != com.jcraft.jzlib.JZlib.Z_OK && rc != com.jcraft.jzlib.JZlib.Z_STREAM_END || now == pos) {
        break;
      }
      pos = now;
    }
    inf.end();
    return out;
  }
}
