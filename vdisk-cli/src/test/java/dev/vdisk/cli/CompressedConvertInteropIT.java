package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk convert -c} (compressed qcow2) against {@code qemu-img convert -c} on the same source: the image
 * passes {@code qemu-img check} with no errors and no leaks, holds the source's bytes ({@code qemu-img compare}), has
 * the same allocation as qemu-img's (compressed clusters are data without a host offset in {@code qemu-img map}, the
 * incompressible cluster is stored plainly, zero clusters stay unallocated), as many compressed clusters, and the
 * same file bytes but for qemu-img's zero padding to a multiple of 512 bytes; each tool reads the other's image. The
 * source has text that repeats from more than 4 KiB back (the deflate window is checked by ClusterCompressorTest:
 * QEMU 7.2's reader would not notice).
 */
class CompressedConvertInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long SIZE = (24L << 20) + 3 * 512;

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"compression_type=zlib", "compression_type=zstd", "cluster_size=4096", "cluster_size=2M",
      "compression_type=zstd,cluster_size=2M", "compat=0.10", "extended_l2=on", "refcount_bits=1"})
  void matchesQemuImg(String options) throws Exception {
    source();
    assertConverts(options, "src.raw");
  }

  @Test
  void withABackingFile() throws Exception {
    source();
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", Long.toString(SIZE));
    PeerTools.check(dir, "qemu-io", "-c", "write -P 0x77 0 " + SIZE, "base.qcow2");
    assertConverts("backing_file=base.qcow2,backing_fmt=qcow2", "src.raw");
    // The zero ranges of the source are zero clusters over the backing image, not holes that show it.
    assertThat(map("ours.qcow2")).allSatisfy(e -> assertThat(e.path("depth").asInt()).isZero());
  }

  @Test
  void overwritingACompressedClusterKeepsTheImageClean() throws Exception {
    source();
    assertConverts("cluster_size=65536", "src.raw");
    // Rewrite parts of compressed clusters: each becomes a normal cluster, its compressed bytes released.
    Vdisk.Result r = Vdisk.run("io", "-c", "write -P 0x99 4096 8192", "-c", "write -P 0x98 4M 1M",
        "-c", "write -c -P 0x97 4M 64k", path("ours.qcow2"));
    assertThat(r.exit()).as("the compressed write over an allocated cluster fails, the others pass: " + r.err()).isOne();
    assertThat(r.err()).contains("the cluster is allocated already");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x99 4096 8192", "-c", "write -P 0x98 4M 1M", "src.raw");
    assertClean("ours.qcow2");
    PeerTools.check(dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", "src.raw", "ours.qcow2");
  }

  private void assertConverts(String options, String src) throws Exception {
    Vdisk.Result r = Vdisk.run("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, path(src), path("ours.qcow2"));
    assertThat(r.exit()).as(r.err()).isZero();
    PeerTools.check(dir, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, src, "theirs.qcow2");

    JsonNode ours = assertClean("ours.qcow2");
    JsonNode theirs = assertClean("theirs.qcow2");
    assertThat(ours.path("compressed-clusters").asLong()).as("compressed clusters")
        .isPositive().isEqualTo(theirs.path("compressed-clusters").asLong());
    assertThat(ours.path("allocated-clusters").asLong()).isEqualTo(theirs.path("allocated-clusters").asLong());
    PeerTools.check(dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", src, "ours.qcow2");
    PeerTools.check(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", "theirs.qcow2", "ours.qcow2");
    assertThat(allocation("ours.qcow2")).isEqualTo(allocation("theirs.qcow2"));
    assertThat(allocation("ours.qcow2")).as("compressed clusters: data without a host offset").anyMatch(s -> s.endsWith("data"));

    r = Vdisk.run("convert", "-f", "qcow2", "-O", "raw", path("theirs.qcow2"), path("back.raw"));
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.mismatch(dir.resolve(src), dir.resolve("back.raw"))).as("vdisk reads qemu-img's image").isEqualTo(-1);

    assertSameBytes("ours.qcow2", "theirs.qcow2");
  }

  /**
   * The two files hold the same bytes: the same libz/libzstd with the same parameters, the same packing order. The one
   * difference allowed is qemu-img's end padding: it extends the file to a multiple of 512 bytes with zeroes.
   */
  private void assertSameBytes(String ours, String theirs) throws IOException {
    byte[] a = Files.readAllBytes(dir.resolve(ours));
    byte[] b = Files.readAllBytes(dir.resolve(theirs));
    assertThat(b.length).as("qemu-img's file size: vdisk's rounded up to 512 bytes").isEqualTo((a.length + 511) & ~511);
    assertThat(Arrays.mismatch(a, Arrays.copyOf(b, a.length))).as("first byte that differs from qemu-img's").isEqualTo(-1);
    assertThat(Arrays.copyOfRange(b, a.length, b.length)).as("qemu-img's padding")
        .isEqualTo(new byte[b.length - a.length]);
  }

  /** qemu-img check --output=json, which must find no errors and no leaks. */
  private JsonNode assertClean(String image) throws Exception {
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "--output=json", image);
    assertThat(check.exit()).as(image + ": " + check.out() + check.err()).isZero();
    JsonNode j = JSON.readTree(check.out());
    assertThat(j.path("leaks").asLong()).as(image + " leaks").isZero();
    assertThat(j.path("corruptions").asLong()).as(image + " corruptions").isZero();
    return j;
  }

  private JsonNode map(String image) throws Exception {
    return JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", image));
  }

  /**
   * qemu-img map without host offsets, neighbours of one kind merged (where plain clusters lie on the host is not
   * compared): "start+length depth present|absent zero|plain|compressed data".
   */
  private List<String> allocation(String image) throws Exception {
    List<String> out = new ArrayList<>();
    long runStart = 0;
    long runEnd = 0;
    String runKind = null;
    for (JsonNode e : map(image)) {
      String kind = " depth " + e.path("depth").asInt() + (e.path("present").asBoolean() ? " present " : " absent ")
          + (e.path("zero").asBoolean() ? "zero" : e.has("offset") ? "plain" : "compressed data");
      if (!kind.equals(runKind)) {
        if (runKind != null) {
          out.add(runStart + "+" + (runEnd - runStart) + runKind);
        }
        runStart = e.path("start").asLong();
        runKind = kind;
      }
      runEnd = e.path("start").asLong() + e.path("length").asLong();
    }
    out.add(runStart + "+" + (runEnd - runStart) + runKind);
    return out;
  }

  /**
   * The source: text repeating from up to 20000 bytes back (compressible), a random MiB (incompressible: stored
   * plainly), written zeroes inside data, a hole, and data in the partial last cluster.
   */
  private void source() throws IOException {
    Path src = dir.resolve("src.raw");
    try (FileChannel ch = FileChannel.open(src, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.truncate(SIZE);
      Random rnd = new Random(42);
      byte[] text = new byte[6 << 20];
      for (int i = 0; i < text.length; i++) {
        text[i] = i >= 20000 && rnd.nextInt(3) > 0 ? text[i - 20000 + rnd.nextInt(8)] : (byte) ('a' + rnd.nextInt(26));
      }
      ch.write(ByteBuffer.wrap(text), 0);
      ch.write(ByteBuffer.allocate(3 << 20), 1L << 20); // zeroes written as data
      byte[] noise = new byte[1 << 20];
      rnd.nextBytes(noise);
      ch.write(ByteBuffer.wrap(noise), 10L << 20);
      ch.write(ByteBuffer.wrap(text, 0, 5 << 20), 16L << 20);
      ch.write(ByteBuffer.wrap(text, 0, 4096), SIZE - 4096);
    }
  }

  private String path(String name) {
    return dir.resolve(name).toString();
  }
}
