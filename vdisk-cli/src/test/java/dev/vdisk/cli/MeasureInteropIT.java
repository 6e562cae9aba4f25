package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk measure} prints what {@code qemu-img measure} prints, byte for byte, for raw and qcow2 targets: from
 * sizes of 0 to 16 TiB under many qcow2 options, and from source images whose data lies in different layers of a
 * backing chain. Where qemu-img refuses (an image too large for the cluster size), vdisk refuses too.
 */
class MeasureInteropIT {
  private static final List<String> SIZES = List.of("0", "1", "512", "65537", "1G", "1000000007", "3T", "16T");

  @TempDir Path dir;

  @ParameterizedTest(name = "-O qcow2 -o {0}")
  @ValueSource(strings = {"", "cluster_size=512", "cluster_size=2M,refcount_bits=1", "extended_l2=on,cluster_size=16k",
      "refcount_bits=64,cluster_size=4k", "refcount_bits=8,cluster_size=1k,preallocation=falloc", "preallocation=full",
      "compat=0.10,preallocation=metadata", "extended_l2=on,cluster_size=2M,refcount_bits=32,preallocation=falloc",
      "lazy_refcounts=on,compression_type=zstd,backing_file=x"})
  void fromSizesLikeQemuImg(String options) throws IOException, InterruptedException {
    for (String size : SIZES) {
      for (String output : List.of("json", "human")) {
        List<String> args = new ArrayList<>(List.of("measure", "--output=" + output, "-O", "qcow2"));
        if (!options.isEmpty()) {
          args.addAll(List.of("-o", options));
        }
        args.addAll(List.of("--size", size));
        same(args);
      }
    }
  }

  /**
   * Option values of the wrong type are refused as qemu-img refuses them (QemuOpts checks every option's type before
   * qcow2's measure reads any), exit 1 with one line, even for the options measuring otherwise ignores; the
   * combinations only creating refuses are measured, as by qemu-img.
   */
  @ParameterizedTest(name = "-O qcow2 -o {0}")
  @ValueSource(strings = {"lazy_refcounts=maybe", "data_file_raw=maybe", "refcount_bits=abc", "extended_l2=2",
      "lazy_refcounts=yes", "compat=0.10,lazy_refcounts=on", "compression_type=foo"})
  void optionTypesCheckedLikeQemuImg(String options) throws IOException, InterruptedException {
    same(List.of("measure", "-O", "qcow2", "-o", options, "--size", "1G"));
  }

  @Test
  void rawTargetsLikeQemuImg() throws IOException, InterruptedException {
    for (String size : SIZES) {
      same(List.of("measure", "--size", size));
      same(List.of("measure", "--output=json", "-O", "raw", "-o", "preallocation=full", "--size", size));
    }
  }

  @Test
  void fromSourceImagesLikeQemuImg() throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "base.raw", "100M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 1 0 4k", "-c", "write -P 2 1M 130k",
        "-c", "write -P 3 99M 1M", "base.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "base.raw", "-F", "raw",
        "top.qcow2", "150M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 4 2M 64k", "-c", "write -z 1M 8k",
        "-c", "write -P 5 120M 3k", "top.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "plain.qcow2", "10M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 6 5M 100k", "plain.qcow2");
    for (String source : List.of("-f raw base.raw", "top.qcow2", "-f qcow2 plain.qcow2")) {
      for (String target : List.of("-O raw", "-O qcow2", "-O qcow2 -o cluster_size=512",
          "-O qcow2 -o cluster_size=2M,extended_l2=on", "-O qcow2 -o compat=0.10", "-O qcow2 -o backing_file=x",
          "-O qcow2 -o preallocation=falloc,refcount_bits=1")) {
        for (String output : List.of("--output=json", "--output=human")) {
          List<String> args = new ArrayList<>(List.of("measure", output));
          args.addAll(List.of(target.split(" ")));
          args.addAll(List.of(source.split(" ")));
          same(args);
        }
      }
    }
  }

  /**
   * {@code -l} measures an internal snapshot as qemu-img does (by name, ID and {@code snapshot.*} options, on an
   * overlay whose snapshot and active layer differ and which was grown after the snapshot), and refuses a missing
   * snapshot, a bad option, a raw image and {@code -l} without a file with qemu-img's message.
   */
  @Test
  void snapshotsLikeQemuImg() throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "base.raw", "64M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 1 0 3M", "-c", "write -P 2 40M 1M", "base.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "snap.qcow2");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 3 1M 5M", "-c", "write -z 40M 64k", "snap.qcow2");
    PeerTools.check(dir, "qemu-img", "snapshot", "-c", "before", "snap.qcow2");
    PeerTools.check(dir, "qemu-img", "resize", "-q", "snap.qcow2", "96M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 4 10M 7M", "-c", "write -P 5 90M 1M", "snap.qcow2");
    PeerTools.check(dir, "qemu-img", "snapshot", "-c", "after", "snap.qcow2");
    PeerTools.check(dir, "qemu-io", "-c", "discard 0 20M", "snap.qcow2");
    for (String spec : List.of("before", "1", "after", "2", "snapshot.name=after", "snapshot.id=1",
        "snapshot.id=2,snapshot.name=after")) {
      for (String target : List.of("-O raw", "-O qcow2", "-O qcow2 -o cluster_size=4k")) {
        for (String output : List.of("--output=json", "--output=human")) {
          List<String> args = new ArrayList<>(List.of("measure", output, "-l", spec));
          args.addAll(List.of(target.split(" ")));
          args.add("snap.qcow2");
          assertThat(same(args)).as(args.toString()).isTrue();
        }
      }
    }
    for (String bad : List.of("-l nope snap.qcow2", "-l snapshot.name=nope snap.qcow2",
        "-l snapshot.id=1,snapshot.name=after snap.qcow2", "-l snapshot.foo=1 snap.qcow2", "-f raw -l before base.raw",
        "-O qcow2 -l before --size 1G")) {
      List<String> args = new ArrayList<>(List.of("measure"));
      args.addAll(List.of(bad.split(" ")));
      refusedAlike(args);
    }
  }

  /** Both qemu-img and vdisk refuse {@code args}, vdisk with qemu-img's (first) error line. */
  private void refusedAlike(List<String> args) throws IOException, InterruptedException {
    List<String> qemu = new ArrayList<>(List.of("qemu-img"));
    qemu.addAll(args);
    PeerTools.Result theirs = PeerTools.run(dir, qemu.toArray(String[]::new));
    assertThat(theirs.exit()).as(args.toString()).isEqualTo(1);
    assertThat(same(args)).as(args.toString()).isFalse();
    String message = theirs.err().lines().findFirst().orElseThrow().replaceFirst("^qemu-img: ", "");
    assertThat(Vdisk.run(inDir(args)).err()).as(args.toString()).startsWith("vdisk measure: " + message);
  }

  /** Runs qemu-img and vdisk with {@code args} in {@code dir}: the same output, or both refuse; true if they succeeded. */
  private boolean same(List<String> args) throws IOException, InterruptedException {
    List<String> qemu = new ArrayList<>(List.of("qemu-img"));
    qemu.addAll(args);
    PeerTools.Result theirs = PeerTools.run(dir, qemu.toArray(String[]::new));
    Vdisk.Result r = Vdisk.run(inDir(args));
    if (theirs.exit() != 0) {
      assertThat(r.exit()).as(args + ": qemu-img refused with " + theirs.err()).isEqualTo(1);
      assertThat(r.errLines()).as(args.toString()).hasSize(1);
      return false;
    }
    assertThat(r.exit()).as(args + ": " + r.err()).isZero();
    assertThat(r.out()).as(args.toString()).isEqualTo(theirs.out());
    return true;
  }

  /** {@code args} with the image names resolved in {@code dir}. */
  private String[] inDir(List<String> args) {
    List<String> ours = new ArrayList<>();
    for (String a : args) {
      ours.add(a.endsWith(".raw") || a.endsWith(".qcow2") ? dir.resolve(a).toString() : a);
    }
    return ours.toArray(String[]::new);
  }
}
