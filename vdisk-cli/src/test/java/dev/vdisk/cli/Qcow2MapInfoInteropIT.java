package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk map}, {@code vdisk info} (with and without {@code --backing-chain}) and {@code vdisk snapshot -l} print
 * what qemu-img prints,
 * byte for byte, for qcow2 images made by qemu-img and qemu-io: backing chains of depth 3 whose overlays are
 * smaller and larger than their backing images, a raw backing file, internal snapshots, an external data file, and
 * the smallest and largest cluster sizes.
 */
class Qcow2MapInfoInteropIT {
  private static final int BACKING_FORMAT_EXTENSION = 0xe2792aca;
  private static final int UNKNOWN_EXTENSION = 0x7e570001;

  @TempDir Path dir;

  private void img(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    PeerTools.check(dir, cmd.toArray(String[]::new));
  }

  private void io(String fmt, String image, String... commands) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", fmt));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image);
    PeerTools.check(dir, cmd.toArray(String[]::new));
  }

  /**
   * Turns the backing-format header extension of {@code image} into an unknown extension, which QEMU skips: the
   * image then records no backing format, as images made before QEMU required one do.
   */
  private void clearBackingFormat(String image) throws IOException {
    Path p = dir.resolve(image);
    byte[] b = Files.readAllBytes(p);
    ByteBuffer head = ByteBuffer.wrap(b);
    for (int at = 72; at + 4 <= 4096; at += 4) {
      if (head.getInt(at) == BACKING_FORMAT_EXTENSION) {
        head.putInt(at, UNKNOWN_EXTENSION);
        Files.write(p, b);
        return;
      }
    }
    throw new IOException(image + ": no backing format extension");
  }

  /** Builds the named image in {@link #dir} and returns the file to look at. */
  private String make(String name) throws IOException, InterruptedException {
    switch (name) {
      case "chain, smaller top", "chain, larger top" -> {
        img("create", "-q", "-f", "qcow2", "base.qcow2", "4M");
        io("qcow2", "base.qcow2", "write -P 1 0 1M", "write -z 1M 512k", "write -P 4 3M 4k");
        img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2", "6M");
        io("qcow2", "mid.qcow2", "write -P 2 512k 256k", "write -z 2M 64k", "write -P 5 5M 64k", "discard 0 64k");
        String size = name.endsWith("smaller top") ? "3M" : "8M";
        img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", size);
        io("qcow2", "top.qcow2", "write -P 3 0 64k", "write -z 128k 64k");
        return "top.qcow2";
      }
      case "raw backing, unrecorded format" -> {
        img("create", "-q", "-f", "raw", "base.raw", "1M");
        io("raw", "base.raw", "write -P 1 0 64k", "write -P 2 512k 4k");
        img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2", "2M");
        io("qcow2", "top.qcow2", "write -P 3 64k 64k");
        img("rebase", "-u", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2");
        clearBackingFormat("top.qcow2");
        return "top.qcow2";
      }
      case "snapshots" -> {
        img("create", "-q", "-f", "qcow2", "snap.qcow2", "4M");
        io("qcow2", "snap.qcow2", "write -P 1 0 128k");
        img("snapshot", "-c", "first", "snap.qcow2");
        io("qcow2", "snap.qcow2", "write -P 2 64k 64k", "write -z 1M 64k");
        img("snapshot", "-c", "second one", "snap.qcow2");
        return "snap.qcow2";
      }
      case "data file" -> {
        // Absolute: a relative data file name is relative to the current directory, not the test's for vdisk.
        img("create", "-q", "-f", "qcow2", "-o", "data_file=" + dir.resolve("disk.data"), "df.qcow2", "4M");
        io("qcow2", "df.qcow2", "write -P 1 64k 64k", "write -z 1M 64k");
        return "df.qcow2";
      }
      case "cluster 512", "cluster 2M" -> {
        String cs = name.endsWith("512") ? "512" : "2M";
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + cs, "c.qcow2", "8M");
        io("qcow2", "c.qcow2", "write -P 1 1000 3000", "write -z 4M 1M", "write -P 2 7M 4k");
        return "c.qcow2";
      }
      default -> throw new IllegalArgumentException(name);
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"chain, smaller top", "chain, larger top", "raw backing, unrecorded format", "snapshots",
      "data file", "cluster 512", "cluster 2M"})
  void mapAndInfoAreQemuImgsByteForByte(String name) throws IOException, InterruptedException {
    String image = dir.resolve(make(name)).toString();
    List<List<String>> commands = List.of(
        List.of("map", "--output=json"), List.of("map"),
        List.of("info", "--output=json"), List.of("info"),
        List.of("info", "--backing-chain", "--output=json"), List.of("info", "--backing-chain"),
        List.of("snapshot", "-l"));
    for (List<String> args : commands) {
      List<String> theirs = new ArrayList<>(List.of("qemu-img"));
      theirs.addAll(args);
      theirs.add(image);
      String expected = PeerTools.check(dir, theirs.toArray(String[]::new));
      List<String> ours = new ArrayList<>(args);
      ours.add(image);
      Vdisk.Result got = Vdisk.run(ours.toArray(String[]::new));
      assertThat(got.exit()).as(String.join(" ", ours) + ": " + got.err()).isZero();
      assertThat(got.out()).as(String.join(" ", ours)).isEqualTo(expected);
    }
  }
  /**
   * qemu-img info does not open an image's external data file (BDRV_O_NO_IO): a missing one does not stop it. The
   * other open without a backing file, rebase -u's, still opens the data file (it writes the image).
   */
  @Test
  void infoOfAnImageWhoseDataFileIsMissing() throws IOException, InterruptedException {
    String image = dir.resolve(make("data file")).toString();
    img("create", "-q", "-f", "raw", "base.raw", "4M");
    Vdisk.Result rebase = Vdisk.run("rebase", "-u", "-f", "qcow2", "-b", "base.raw", "-F", "raw", image);
    assertThat(rebase.exit()).as(rebase.err()).isZero();
    assertThat(PeerTools.check(dir, "qemu-img", "info", image)).contains("backing file: base.raw");
    Files.delete(dir.resolve("disk.data"));
    for (String output : List.of("--output=human", "--output=json")) {
      Vdisk.Result got = Vdisk.run("info", output, image);
      assertThat(got.exit()).as(got.err()).isZero();
      assertThat(got.out()).isEqualTo(PeerTools.check(dir, "qemu-img", "info", output, image));
    }
    Vdisk.Result map = Vdisk.run("map", image);
    assertThat(map.exit()).as("map reads the data file: refused, as by qemu-img").isEqualTo(1)
        .isEqualTo(PeerTools.run(dir, "qemu-img", "map", image).exit());
  }
}
