package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.testkit.Scribble;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code vdisk convert -O raw} writes what {@code qemu-img convert -O raw} writes, byte for byte and allocated
 * alike ({@code qemu-img map} of both outputs), for a corpus made at test time with qemu-img and qemu-io; and
 * {@code vdisk compare} prints and exits as {@code qemu-img compare} does on the same pairs.
 */
class ConvertCompareInteropIT {
  private static final long MIB = 1 << 20;

  @TempDir Path dir;

  /** Makes an image in {@code dir} and returns its file name. */
  @FunctionalInterface
  interface Maker {
    String make(Path dir) throws Exception;
  }

  static Stream<Arguments> corpus() {
    return Stream.of(
        qcow2("qcow2 cluster 512", "cluster_size=512", 4 * MIB, 512),
        qcow2("qcow2 cluster 4K", "cluster_size=4096", 16 * MIB, 4096),
        qcow2("qcow2 cluster 64K", "cluster_size=65536", 16 * MIB, 65536),
        qcow2("qcow2 cluster 2M", "cluster_size=2097152", 32 * MIB, 2 << 20),
        qcow2("qcow2 extended L2", "extended_l2=on", 16 * MIB, 65536),
        qcow2("qcow2 external data file", "data_file=DATA,data_file_raw=off", 16 * MIB, 65536),
        compressed("qcow2 zlib compressed", "compression_type=zlib"),
        compressed("qcow2 zstd compressed", "compression_type=zstd"),
        Arguments.of("qcow2 backing chain, depth 3", (Maker) ConvertCompareInteropIT::chain),
        Arguments.of("raw sparse", (Maker) d -> {
          qemuImg(d, "create", "-f", "raw", "disk.raw", Long.toString(16 * MIB));
          scribble(d, "raw", "disk.raw", 16 * MIB, 4096);
          return "disk.raw";
        }));
  }

  /** A qcow2 source made with {@code options}, where DATA stands for {@code disk.data}'s absolute name. */
  private static Arguments qcow2(String name, String options, long size, int cluster) {
    return Arguments.of(name, (Maker) d -> {
      // Absolute: a relative data file name is relative to the current directory, not the test's for vdisk in-process.
      qemuImg(d, "create", "-f", "qcow2", "-o", options.replace("DATA", d.resolve("disk.data").toString()), "disk.qcow2",
          Long.toString(size));
      scribble(d, "qcow2", "disk.qcow2", size, cluster);
      return "disk.qcow2";
    });
  }

  private static Arguments compressed(String name, String options) {
    return Arguments.of(name, (Maker) d -> {
      long size = 16 * MIB;
      qemuImg(d, "create", "-f", "qcow2", "src.qcow2", Long.toString(size));
      scribble(d, "qcow2", "src.qcow2", size, 65536);
      qemuImg(d, "convert", "-c", "-O", "qcow2", "-o", options, "src.qcow2", "disk.qcow2");
      qemuIo(d, "qcow2", "disk.qcow2", "write -P 0x77 " + 5 * 65536 + " 65536", "write -P 0x78 100 200");
      return "disk.qcow2";
    });
  }

  /** base.raw (8 MiB) <- mid.qcow2 (4 MiB, smaller) <- top.qcow2 (12 MiB, larger), each written. */
  private static String chain(Path d) throws Exception {
    qemuImg(d, "create", "-f", "raw", "base.raw", Long.toString(8 * MIB));
    qemuIo(d, "raw", "base.raw", "write -P 0x61 0 8M", "write -z 1M 1M");
    qemuImg(d, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "mid.qcow2", Long.toString(4 * MIB));
    qemuIo(d, "qcow2", "mid.qcow2", "write -P 0x62 512k 64k", "write -z 2M 128k", "discard 3M 64k");
    qemuImg(d, "create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", Long.toString(12 * MIB));
    qemuIo(d, "qcow2", "top.qcow2", "write -P 0x63 0 4k", "write -z 544k 4k", "write -P 0x64 10M 64k");
    return "top.qcow2";
  }

  /** {@link Scribble}'s data (with zero runs inside), zero writes and discards. */
  private static void scribble(Path d, String fmt, String image, long size, int cluster) throws Exception {
    qemuIo(d, fmt, image, Scribble.commands(size, cluster).toArray(String[]::new));
  }


  @ParameterizedTest(name = "{0}")
  @MethodSource("corpus")
  void convertToRawIsQemuImgsBytesAndAllocation(String name, Maker maker) throws Exception {
    String image = maker.make(dir);
    assertSameConvert(image);
  }

  /** qemu-img's sparse detection with other thresholds, parallelism and ordering, and into an existing target. */
  @Test
  void convertOptionsChangeWhatQemuImgsChange() throws Exception {
    String image = ((Maker) d -> {
      qemuImg(d, "create", "-f", "qcow2", "disk.qcow2", Long.toString(16 * MIB));
      scribble(d, "qcow2", "disk.qcow2", 16 * MIB, 65536);
      // Short and long zero runs inside data.
      qemuIo(d, "qcow2", "disk.qcow2", "write -P 0x99 6M 1M", "write -P 0 6200k 1k", "write -P 0 6400k 12k",
          "write -P 0 6600k 100k");
      return "disk.qcow2";
    }).make(dir);
    assertSameConvert(image, "-S", "0");
    assertSameConvert(image, "-S", "512");
    assertSameConvert(image, "-S", "64k");
    assertSameConvert(image, "-W", "-m", "3");
    assertSameConvert(image, "-r", "64M");
    assertSameConvert(image, "-m", "1", "-t", "writeback", "-T", "none");
    for (String[] opts : new String[][] {{"-n"}, {"-n", "--target-is-zero"}, {"-n", "-S", "0"}}) {
      for (String out : new String[] {"q.raw", "v.raw"}) {
        Files.deleteIfExists(dir.resolve(out));
        qemuImg(dir, "create", "-f", "raw", out, Long.toString(16 * MIB));
        if (!Arrays.asList(opts).contains("--target-is-zero")) {
          qemuIo(dir, "raw", out, "write -P 0x5a 0 16M");
        }
      }
      List<String> q = new ArrayList<>(List.of("qemu-img", "convert", "-O", "raw"));
      q.addAll(List.of(opts));
      q.addAll(List.of(image, "q.raw"));
      PeerTools.check(dir, q.toArray(String[]::new));
      List<String> v = new ArrayList<>(List.of("convert", "-O", "raw"));
      v.addAll(List.of(opts));
      v.addAll(List.of(path(image), path("v.raw")));
      Vdisk.Result ours = Vdisk.run(v.toArray(String[]::new));
      assertThat(ours.exit()).as(ours.err()).isZero();
      assertSameOutputs(String.join(" ", opts));
    }
  }

  /** qemu-img's -r throttles the target's writes; the output stays the same. */
  @Test
  void rateLimitedConvertWaitsAndWritesTheSame() throws Exception {
    qemuImg(dir, "create", "-f", "raw", "six.raw", Long.toString(16 * MIB));
    qemuIo(dir, "raw", "six.raw", "write -P 0x42 0 6M");
    long start = System.nanoTime();
    Vdisk.Result ours = Vdisk.run("convert", "-f", "raw", "-O", "raw", "-r", "2M", path("six.raw"), path("v.raw"));
    long took = System.nanoTime() - start;
    assertThat(ours.exit()).as(ours.err()).isZero();
    assertThat(took).as("6 MiB at 2 MiB/s: the 4 MiB after the first write wait 2 s").isGreaterThanOrEqualTo(2_000_000_000L);
    PeerTools.check(dir, "qemu-img", "convert", "-f", "raw", "-O", "raw", "six.raw", "q.raw");
    assertSameOutputs("-r 2M");
  }

  /**
   * A compressed cluster whose deflate stream is damaged: without --salvage both tools fail (exit 1, nothing claimed
   * written); with it both write zeroes for its 128 sectors, one warning each, and the rest of the data.
   */
  @Test
  void salvageWritesZeroesWhereTheSourceCannotBeRead() throws Exception {
    qemuImg(dir, "create", "-f", "raw", "data.raw", Long.toString(2 * MIB));
    qemuIo(dir, "raw", "data.raw", "write -P 0x33 0 2M");
    PeerTools.check(dir, "qemu-img", "convert", "-c", "-O", "qcow2", "data.raw", "bad.qcow2");
    damageCompressedCluster(dir.resolve("bad.qcow2"), 3);

    Vdisk.Result failed = Vdisk.run("convert", "-O", "raw", path("bad.qcow2"), path("v.raw"));
    assertThat(failed.exit()).isEqualTo(1).isEqualTo(PeerTools.run(dir, "qemu-img", "convert", "-O", "raw", "bad.qcow2", "q.raw").exit());
    assertThat(failed.errLines()).singleElement().asString().contains("error while reading '" + path("bad.qcow2") + "'");

    Files.deleteIfExists(dir.resolve("q.raw"));
    Files.deleteIfExists(dir.resolve("v.raw"));
    PeerTools.check(dir, "qemu-img", "convert", "--salvage", "-O", "raw", "bad.qcow2", "q.raw");
    // In a process of its own: the warnings are the library's notices, which the command's JVM prints on stderr.
    PeerTools.Result salvaged = Vdisk.runIn(dir, "convert", "--salvage", "-O", "raw", "bad.qcow2", "v.raw");
    assertThat(salvaged.exit()).as(salvaged.err()).isZero();
    List<String> warnings = salvaged.err().lines().filter(l -> l.contains("error while reading offset")).toList();
    assertThat(warnings).hasSize(128).first().asString().startsWith("WARNING: ")
        .contains("offset " + 3 * 65536 + " of 'bad.qcow2'");
    assertSameOutputs("--salvage");
  }

  /** Overwrites the start of the deflate stream of compressed cluster {@code index} (of the first L2 table). */
  private static void damageCompressedCluster(Path image, int index) throws IOException {
    try (FileChannel f = FileChannel.open(image, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      int clusterBits = read(f, 20, 4).getInt();
      long l2 = read(f, read(f, 40, 8).getLong(), 8).getLong() & 0x00ff_ffff_ffff_fe00L;
      long entry = read(f, l2 + 8L * index, 8).getLong();
      if (entry >>> 62 != 1) {
        throw new IllegalStateException("cluster " + index + " is not compressed: " + Long.toHexString(entry));
      }
      long offset = entry & ((1L << (62 - (clusterBits - 8))) - 1);
      f.write(ByteBuffer.wrap(new byte[] {-1, -1, -1, -1, -1, -1, -1, -1}), offset);
    }
  }

  private static ByteBuffer read(FileChannel f, long at, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    f.read(b, at);
    return b.flip();
  }

  private void assertSameConvert(String image, String... options) throws Exception {
    Files.deleteIfExists(dir.resolve("q.raw"));
    Files.deleteIfExists(dir.resolve("v.raw"));
    List<String> q = new ArrayList<>(List.of("qemu-img", "convert", "-O", "raw"));
    q.addAll(List.of(options));
    q.addAll(List.of(image, "q.raw"));
    PeerTools.check(dir, q.toArray(String[]::new));
    List<String> v = new ArrayList<>(List.of("convert", "-O", "raw"));
    v.addAll(List.of(options));
    v.addAll(List.of(path(image), path("v.raw")));
    Vdisk.Result ours = Vdisk.run(v.toArray(String[]::new));
    assertThat(ours.exit()).as(ours.err()).isZero();
    assertThat(ours.out()).isEmpty();
    assertSameOutputs(image + " " + String.join(" ", options));
  }

  private void assertSameOutputs(String what) throws Exception {
    byte[] theirs = Files.readAllBytes(dir.resolve("q.raw"));
    byte[] ours = Files.readAllBytes(dir.resolve("v.raw"));
    assertThat(ours.length).as(what + ": size").isEqualTo(theirs.length);
    assertThat(Arrays.mismatch(ours, theirs)).as(what + ": first differing byte").isEqualTo(-1);
    String mapTheirs = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", "q.raw");
    String mapOurs = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", "v.raw");
    assertThat(mapOurs.replace("v.raw", "q.raw")).as(what + ": allocation (qemu-img map)").isEqualTo(mapTheirs);
  }

  /** Pairs for compare: identical, different, sizes that differ, allocation that differs; each with and without -s. */
  @Test
  void compareAgreesWithQemuImgCompare() throws Exception {
    qemuImg(dir, "create", "-f", "qcow2", "a.qcow2", Long.toString(16 * MIB));
    scribble(dir, "qcow2", "a.qcow2", 16 * MIB, 65536);
    qemuImg(dir, "convert", "-O", "raw", "a.qcow2", "a.raw");
    qemuImg(dir, "convert", "-O", "qcow2", "a.qcow2", "copy.qcow2");
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("diff.qcow2"));
    qemuIo(dir, "qcow2", "diff.qcow2", "write -P 0x01 9000123 1");
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("zeroed.qcow2"));
    qemuIo(dir, "qcow2", "zeroed.qcow2", "write -z 13M 64k", "write -P 0 14M 64k");
    qemuImg(dir, "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "longer.qcow2", Long.toString(20 * MIB));
    qemuImg(dir, "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "longer-data.qcow2", Long.toString(20 * MIB));
    qemuIo(dir, "qcow2", "longer-data.qcow2", "write -P 0x07 18M 512");
    qemuImg(dir, "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "shorter.qcow2", Long.toString(8 * MIB));
    qemuImg(dir, "create", "-f", "raw", "empty.raw", Long.toString(16 * MIB));
    qemuImg(dir, "create", "-f", "qcow2", "empty.qcow2", Long.toString(16 * MIB));
    // The same contents in other cluster sizes and L2 entry widths: strict mode sees where QEMU's runs end.
    // Not compared: ext.qcow2 against c4k.qcow2 under -s. QEMU reports an allocated cluster's unallocated
    // subclusters with an offset (BDRV_BLOCK_OFFSET_VALID) and vdisk's qcow2 extents do not, so -s differs there.
    for (String[] copy : new String[][] {{"c512.qcow2", "cluster_size=512"}, {"c4k.qcow2", "cluster_size=4096"},
        {"c2m.qcow2", "cluster_size=2097152"}, {"ext.qcow2", "extended_l2=on,cluster_size=16384"}}) {
      qemuImg(dir, "convert", "-O", "qcow2", "-o", copy[1], "a.qcow2", copy[0]);
    }

    String[][] pairs = {
        {"a.qcow2", "a.raw"}, {"a.qcow2", "copy.qcow2"}, {"a.qcow2", "a.qcow2"}, {"a.qcow2", "diff.qcow2"},
        {"diff.qcow2", "a.raw"}, {"a.qcow2", "zeroed.qcow2"}, {"a.qcow2", "longer.qcow2"},
        {"longer-data.qcow2", "a.qcow2"}, {"a.qcow2", "longer-data.qcow2"}, {"shorter.qcow2", "a.qcow2"},
        {"empty.raw", "empty.qcow2"}, {"empty.qcow2", "a.qcow2"}, {"a.raw", "a.raw"},
        {"a.qcow2", "c512.qcow2"}, {"a.qcow2", "c4k.qcow2"}, {"c512.qcow2", "c4k.qcow2"}, {"c2m.qcow2", "a.qcow2"},
        {"ext.qcow2", "a.qcow2"}, {"c512.qcow2", "a.raw"},
    };
    for (String[] pair : pairs) {
      for (boolean strict : new boolean[] {false, true}) {
        List<String> args = new ArrayList<>(List.of("compare"));
        if (strict) {
          args.add("-s");
        }
        String what = String.join(" ", args) + " " + pair[0] + " " + pair[1];
        List<String> q = new ArrayList<>(List.of("qemu-img"));
        q.addAll(args);
        q.addAll(List.of(pair));
        PeerTools.Result theirs = PeerTools.run(dir, q.toArray(String[]::new));
        args.addAll(List.of(path(pair[0]), path(pair[1])));
        Vdisk.Result ours = Vdisk.run(args.toArray(String[]::new));
        assertThat(ours.out()).as(what + ": " + ours.err()).isEqualTo(theirs.out());
        assertThat(ours.exit()).as(what).isEqualTo(theirs.exit());
      }
    }
  }

  @Test
  void compareExitsTwoWhenAnImageCannotBeOpened() throws Exception {
    qemuImg(dir, "create", "-f", "qcow2", "a.qcow2", "1M");
    PeerTools.Result theirs = PeerTools.run(dir, "qemu-img", "compare", "a.qcow2", "missing.qcow2");
    Vdisk.Result ours = Vdisk.run("compare", path("a.qcow2"), path("missing.qcow2"));
    assertThat(ours.exit()).isEqualTo(theirs.exit()).isEqualTo(2);
    assertThat(ours.errLines()).hasSize(1);
    assertThat(ours.err()).startsWith("vdisk compare: ").contains("missing.qcow2");
    Vdisk.Result badFormat = Vdisk.run("compare", "-F", "raw", "-f", "vmdk9", path("a.qcow2"), path("a.qcow2"));
    assertThat(badFormat.exit()).isEqualTo(2);
  }

  private String path(String name) {
    return dir.resolve(name).toString();
  }

  private static void qemuImg(Path d, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    PeerTools.check(d, cmd.toArray(String[]::new));
  }

  private static void qemuIo(Path d, String fmt, String image, String... commands) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", fmt));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image);
    PeerTools.check(d, cmd.toArray(String[]::new));
  }
}
