package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk convert -O qcow2}: raw → qcow2 → raw round trips are byte-identical, the qcow2 passes {@code
 * qemu-img check} with no leaks, and its size is within two clusters of what {@code qemu-img convert} makes from
 * the same source with the same options.
 */
class ConvertToQcow2InteropIT {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"preallocation=off", "preallocation=metadata", "preallocation=falloc", "preallocation=full",
      "cluster_size=4096", "cluster_size=2M", "compat=0.10", "extended_l2=on"})
  void roundTripsAndMatchesQemuImgsSize(String options) throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "src.raw", "64M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x33 1M 10M", "-c", "write -P 0x44 40M 3000000",
        "-c", "write -P 0 50M 1M", "-c", "write -P 0x55 63M 1M", "src.raw");
    Vdisk.Result r = Vdisk.run("convert", "-f", "raw", "-O", "qcow2", "-o", options, path("src.raw"), path("ours.qcow2"));
    assertThat(r.exit()).as(r.err()).isZero();
    PeerTools.check(dir, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", options, "src.raw", "theirs.qcow2");

    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "ours.qcow2");
    assertThat(check.exit()).as(check.out() + check.err()).isZero();
    PeerTools.check(dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", "src.raw", "ours.qcow2");
    r = Vdisk.run("convert", "-f", "qcow2", "-O", "raw", path("ours.qcow2"), path("back.raw"));
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.mismatch(dir.resolve("src.raw"), dir.resolve("back.raw"))).isEqualTo(-1);

    long cluster = options.contains("4096") ? 4096 : options.contains("2M") ? 2 << 20 : 65536;
    assertThat(Files.size(dir.resolve("ours.qcow2")))
        .as("file size against qemu-img's")
        .isCloseTo(Files.size(dir.resolve("theirs.qcow2")), org.assertj.core.data.Offset.offset(2 * cluster));
  }

  private String path(String name) {
    return dir.resolve(name).toString();
  }
}
