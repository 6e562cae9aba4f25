package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qcow2 images made by qemu-img are written by vdisk and, as a reference, a copy of each by qemu-io with the same
 * commands: afterwards {@code qemu-img check} finds no corruption and no leak in vdisk's image and {@code qemu-img
 * compare} finds it identical to QEMU's; then qemu-io writes both again and they still pass. Images: cluster sizes
 * 512 B to 2 MiB, refcount widths 1 and 64, version 2, extended L2, lazy refcounts, compressed clusters, internal
 * snapshots (shared L2 tables and clusters), and overlays of version 3 and 2 over a backing file.
 */
class Qcow2WriteInteropIT {
  @TempDir Path dir;

  /** vdisk io / qemu-io commands: writes into fresh, partly written and compressed clusters, zeroes, discards. */
  private static final List<String> FIRST = List.of(
      "write -P 0xa1 0 4k", "write -P 0xa2 5000 300000", "write -P 0xa3 2M 3M", "write -z 2M 64k",
      "write -z -u 4M 2M", "discard 6M 2M", "write -P 0xa4 12345 17", "write -P 0xa5 7M 1M", "write -z 9000 100");

  private static final List<String> SECOND = List.of(
      "write -P 0xb1 1M 1M", "write -P 0xb2 4100k 8k", "discard 0 2M", "write -P 0xb3 6M 100k");

  private void img(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    PeerTools.check(dir, cmd.toArray(String[]::new));
  }

  private void qemuIo(String image, List<String> commands) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image);
    String out = PeerTools.check(dir, cmd.toArray(String[]::new));
    assertThat(out).as("qemu-io " + commands).doesNotContain("error", "failed");
  }

  private void vdiskIo(String image, List<String> commands) {
    List<String> args = new ArrayList<>(List.of("io", "-f", "qcow2"));
    for (String c : commands) {
      args.add("-c");
      args.add(c);
    }
    args.add(dir.resolve(image).toString());
    Vdisk.Result r = Vdisk.run(args.toArray(String[]::new));
    assertThat(r.exit()).as("vdisk io: " + r.err()).isZero();
  }

  /** Makes the image to write, {@code disk.qcow2}, with qemu-img (and qemu-io). */
  private void make(String name) throws IOException, InterruptedException {
    switch (name) {
      case "compressed" -> {
        img("create", "-q", "-f", "qcow2", "src.qcow2", "16M");
        qemuIo("src.qcow2", List.of("write -P 0x11 0 9M", "write -P 0x12 12M 1M"));
        img("convert", "-c", "-O", "qcow2", "src.qcow2", "disk.qcow2");
      }
      case "snapshots" -> {
        img("create", "-q", "-f", "qcow2", "disk.qcow2", "16M");
        qemuIo("disk.qcow2", List.of("write -P 0x11 0 9M"));
        img("snapshot", "-c", "one", "disk.qcow2");
        qemuIo("disk.qcow2", List.of("write -P 0x12 1M 64k"));
        img("snapshot", "-c", "two", "disk.qcow2");
      }
      case "backing v3", "backing v2" -> {
        img("create", "-q", "-f", "qcow2", "base.qcow2", "16M");
        qemuIo("base.qcow2", List.of("write -P 0x11 0 16M"));
        String compat = name.endsWith("v2") ? "compat=0.10" : "compat=1.1";
        img("create", "-q", "-f", "qcow2", "-o", compat, "-b", "base.qcow2", "-F", "qcow2", "disk.qcow2", "16M");
      }
      default -> img("create", "-q", "-f", "qcow2", "-o", name, "disk.qcow2", "16M");
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cluster_size=65536", "cluster_size=512", "cluster_size=512,refcount_bits=1",
      "cluster_size=4096,refcount_bits=64", "compat=0.10", "extended_l2=on", "lazy_refcounts=on",
      "cluster_size=2097152", "preallocation=metadata", "compressed", "snapshots", "backing v3", "backing v2"})
  void vdiskWritesWhatQemuWrites(String name) throws IOException, InterruptedException {
    make(name);
    Files.copy(dir.resolve("disk.qcow2"), dir.resolve("qemu.qcow2"), StandardCopyOption.COPY_ATTRIBUTES);
    vdiskIo("disk.qcow2", FIRST);
    qemuIo("qemu.qcow2", FIRST);
    assertClean("after vdisk's writes");
    qemuIo("disk.qcow2", SECOND);
    qemuIo("qemu.qcow2", SECOND);
    assertClean("after qemu-io's writes over vdisk's");
    vdiskIo("disk.qcow2", SECOND.reversed());
    qemuIo("qemu.qcow2", SECOND.reversed());
    assertClean("after vdisk's writes over qemu-io's");
  }

  private void assertClean(String when) throws IOException, InterruptedException {
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "disk.qcow2");
    assertThat(check.exit()).as(when + ": qemu-img check\n" + check.out() + check.err()).isZero();
    assertThat(check.out()).contains("No errors were found on the image.");
    PeerTools.Result cmp = PeerTools.run(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", "disk.qcow2", "qemu.qcow2");
    assertThat(cmp.exit()).as(when + ": qemu-img compare\n" + cmp.out() + cmp.err()).isZero();
  }
}
