package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.Extent;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.testkit.Qemu;
import dev.vdisk.testkit.Scribble;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Images made by qemu-img and qemu-io in every shape this driver reads, each read whole through vdisk and compared
 * with {@code qemu-img convert -O raw} of it byte for byte, with format-specific data compared with
 * {@code qemu-img info}, and with extents checked against the data and against {@code qemu-img map}.
 */
class Qcow2CorpusIT {
  private static final long MIB = 1 << 20;

  /** Makes an image in a directory and returns its file name. */
  @FunctionalInterface
  interface Maker {
    String make(Path dir) throws Exception;
  }

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  static Stream<Arguments> corpus() {
    return Stream.of(
        image("cluster 512", "cluster_size=512", 4 * MIB, 512),
        image("cluster 4K", "cluster_size=4096", 16 * MIB, 4096),
        image("cluster 64K", "cluster_size=65536", 16 * MIB, 65536),
        image("cluster 2M", "cluster_size=2097152", 32 * MIB, 2 << 20),
        image("refcount_bits 1", "refcount_bits=1", 16 * MIB, 65536),
        image("refcount_bits 64", "refcount_bits=64,cluster_size=4096", 16 * MIB, 4096),
        image("compat 0.10", "compat=0.10", 16 * MIB, 65536),
        image("compat 0.10, cluster 512", "compat=0.10,cluster_size=512", 4 * MIB, 512),
        image("lazy refcounts", "lazy_refcounts=on", 16 * MIB, 65536),
        image("extended L2", "extended_l2=on", 16 * MIB, 65536),
        image("extended L2, cluster 16K", "extended_l2=on,cluster_size=16384", 8 * MIB, 16384),
        image("extended L2, cluster 2M", "extended_l2=on,cluster_size=2097152", 32 * MIB, 2 << 20),
        image("preallocation metadata", "preallocation=metadata", 16 * MIB, 65536),
        image("preallocation metadata, extended L2", "preallocation=metadata,extended_l2=on", 16 * MIB, 65536),
        compressed("zlib compressed", "compression_type=zlib,cluster_size=65536", 65536),
        compressed("zlib compressed, cluster 512", "compression_type=zlib,cluster_size=512", 512),
        compressed("zlib compressed, cluster 2M", "compression_type=zlib,cluster_size=2097152", 2 << 20),
        compressed("zstd compressed", "compression_type=zstd,cluster_size=65536", 65536),
        compressed("zstd compressed, cluster 4K", "compression_type=zstd,cluster_size=4096", 4096),
        compressed("zstd compressed, extended L2", "compression_type=zstd,extended_l2=on", 65536),
        compressed("zlib compressed, compat 0.10", "compat=0.10", 65536),
        image("data file", "data_file=DATA,data_file_raw=off", 16 * MIB, 65536),
        image("data file raw", "data_file=DATA,data_file_raw=on", 16 * MIB, 65536),
        image("data file, extended L2", "data_file=DATA,extended_l2=on", 16 * MIB, 65536),
        Arguments.of("internal snapshots", (Maker) Qcow2CorpusIT::withSnapshots));
  }

  /**
   * An image made with {@code options}, DATA standing for {@code disk.data}'s absolute name (a relative one is
   * relative to the current directory, which is not the test's for vdisk).
   */
  private static Arguments image(String name, String options, long size, int clusterSize) {
    return Arguments.of(name, (Maker) dir -> {
      Qemu.img(dir, "create", "-f", "qcow2", "-o", options.replace("DATA", dir.resolve("disk.data").toString()),
          "disk.qcow2", Long.toString(size));
      scribble(dir, "disk.qcow2", size, clusterSize);
      return "disk.qcow2";
    });
  }

  private static Arguments compressed(String name, String options, int clusterSize) {
    return Arguments.of(name, (Maker) dir -> {
      long size = Math.max(16 * MIB, 16L * clusterSize);
      Qemu.img(dir, "create", "-f", "qcow2", "src.qcow2", Long.toString(size));
      scribble(dir, "src.qcow2", size, clusterSize);
      Qemu.img(dir, "convert", "-c", "-O", "qcow2", "-o", options, "src.qcow2", "disk.qcow2");
      // Uncompressed clusters next to compressed ones, and a compressed cluster partly overwritten.
      Qemu.io(dir, "disk.qcow2", "write -P 0x77 " + 5 * clusterSize + " " + clusterSize, "write -P 0x78 100 200");
      return "disk.qcow2";
    });
  }

  private static String withSnapshots(Path dir) throws Exception {
    long size = 16 * MIB;
    Qemu.img(dir, "create", "-f", "qcow2", "disk.qcow2", Long.toString(size));
    scribble(dir, "disk.qcow2", size, 65536);
    Qemu.img(dir, "snapshot", "-c", "first", "disk.qcow2");
    Qemu.io(dir, "disk.qcow2", "write -P 0x66 0 131072", "write -z 4194304 65536");
    Qemu.img(dir, "snapshot", "-c", "second snapshot", "disk.qcow2");
    Qemu.io(dir, "disk.qcow2", "write -P 0x67 65536 4096");
    return "disk.qcow2";
  }

  /** {@link Scribble}'s data, zeroes and discards, so every kind of cluster appears. */
  static void scribble(Path dir, String image, long size, int cluster) throws Exception {
    Qemu.io(dir, image, Scribble.commands(size, cluster).toArray(String[]::new));
  }


  @ParameterizedTest(name = "{0}")
  @MethodSource("corpus")
  void readsLikeQemu(String name, Maker maker, @TempDir Path dir) throws Exception {
    String image = maker.make(dir);
    Qemu.img(dir, "convert", "-O", "raw", image, "expected.raw");
    byte[] expected = Files.readAllBytes(dir.resolve("expected.raw"));
    Map<?, ?> info = (Map<?, ?>) Json.parse(Qemu.img(dir, "info", "--output=json", image));
    try (OpenImage img = Vdisk.open(dir.resolve(image))) {
      byte[] got = Vdisk.readAll(img.device());
      assertThat(got.length).isEqualTo(expected.length);
      int at = Arrays.mismatch(got, expected);
      assertThat(at).as("first differing byte").isEqualTo(-1);

      assertThat(Json.normalize(Map.of("type", "qcow2", "data", Vdisk.facts(img.device()).formatSpecific())))
          .isEqualTo(info.get("format-specific"));
      assertThat((long) Vdisk.facts(img.device()).clusterSize().getAsInt()).isEqualTo(info.get("cluster-size"));
      assertThat(Vdisk.facts(img.device()).dirty()).isEqualTo(info.get("dirty-flag"));
      assertThat(img.device().size()).isEqualTo(info.get("virtual-size"));
      checkSnapshots(img, info);

      List<Extent> extents = Vdisk.extents(img.device());
      Path dataFile = Files.exists(dir.resolve("disk.data")) ? dir.resolve("disk.data") : dir.resolve(image);
      ExtentChecks.agreeWithData(extents, got, dataFile);
      ExtentChecks.agreeWithQemuMap(extents, Qemu.img(dir, "map", "--output=json", image));
    }
  }

  private static void checkSnapshots(OpenImage img, Map<?, ?> info) throws java.io.IOException {
    List<?> expected = info.containsKey("snapshots") ? (List<?>) info.get("snapshots") : List.of();
    List<Snapshot> got = Vdisk.facts(img.device()).snapshots();
    assertThat(got).hasSize(expected.size());
    for (int i = 0; i < got.size(); i++) {
      Map<?, ?> e = (Map<?, ?>) expected.get(i);
      Snapshot s = got.get(i);
      assertThat(s.id()).isEqualTo(e.get("id"));
      assertThat(s.name()).isEqualTo(e.get("name"));
      assertThat(s.vmStateSize()).isEqualTo(e.get("vm-state-size"));
      assertThat(s.dateSeconds()).isEqualTo(e.get("date-sec"));
      assertThat(s.dateNanos()).isEqualTo(e.get("date-nsec"));
      assertThat(s.vmClockNanos()).isEqualTo((Long) e.get("vm-clock-sec") * 1_000_000_000L + (Long) e.get("vm-clock-nsec"));
      assertThat(s.icount()).isEqualTo(e.get("icount"));
      assertThat(s.virtualSize()).isEqualTo(img.device().size());
    }
  }
}
