package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Lazy refcounts against QEMU: an image that qemu-io left dirty (its {@code abort} command: refcounts not written
 * back) is read by vdisk as it is, repaired by vdisk before vdisk writes it, and then passes qemu-img check with
 * its data intact; an image vdisk writes with lazy refcounts is clean, dirty bit cleared, after vdisk closes it.
 */
class LazyRefcountsInteropIT {
  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  private Path dirtyImage() throws Exception {
    Path image = dir.resolve("dirty.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", image.toString(), "64M");
    // qemu-io's abort ends the process at once: QEMU's lazily kept refcounts never reach the file.
    PeerTools.run(dir, "qemu-io", "-c", "write -P 5 0 2M", "-c", "write -P 6 30M 64k", "-c", "abort", image.toString());
    assertThat(dirtyBit(image)).as("qemu-io left the image dirty").isTrue();
    return image;
  }

  @Test
  void readOnlyUseOfADirtyImageChangesNothing() throws Exception {
    Path image = dirtyImage();
    byte[] before = Files.readAllBytes(image);
    PeerTools.Result theirs = PeerTools.run(dir, "qemu-img", "check", image.toString());
    Vdisk.Result ours = Vdisk.run("check", image.toString());
    assertThat(theirs.exit()).as("qemu-img check of a dirty image").isEqualTo(2);
    assertThat(ours.out()).isEqualTo(theirs.out());
    assertThat(ours.exit()).isEqualTo(theirs.exit());
    assertThat(Vdisk.run("io", "-r", "-f", "qcow2", "-c", "read -P 5 0 2M", "-c", "read -P 6 30M 64k", image.toString()).exit()).isZero();
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
  }

  @Test
  void aDirtyImageIsRepairedBeforeVdiskWritesIt() throws Exception {
    Path image = dirtyImage();
    Vdisk.Result w = Vdisk.run("io", "-f", "qcow2", "-c", "write -P 7 40M 64k", image.toString());
    assertThat(w.exit()).as(w.err()).isZero();
    assertThat(dirtyBit(image)).as("dirty bit after vdisk's clean close").isFalse();
    PeerTools.check(dir, "qemu-img", "check", image.toString());
    String read = PeerTools.check(dir, "qemu-io", "-c", "read -P 5 0 2M", "-c", "read -P 6 30M 64k", "-c", "read -P 7 40M 64k", image.toString());
    assertThat(read).doesNotContain("Pattern verification failed");
  }

  @Test
  void vdiskWritesLazilyAndClosesClean() throws Exception {
    Path image = dir.resolve("lazy.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=4096", image.toString(), "64M");
    Vdisk.Result w = Vdisk.run("io", "-f", "qcow2", "-c", "write -P 1 0 3M", "-c", "flush", "-c", "write -P 2 20M 1M",
        "-c", "write -z 1M 64k", "-c", "discard 2M 512k", "-c", "flush", "-c", "write -P 3 63M 1M", image.toString());
    assertThat(w.exit()).as(w.err()).isZero();
    assertThat(dirtyBit(image)).isFalse();
    PeerTools.check(dir, "qemu-img", "check", image.toString());
    String read = PeerTools.check(dir, "qemu-io", "-c", "read -P 1 0 1M", "-c", "read -P 0 1M 64k", "-c", "read -P 0 2M 512k",
        "-c", "read -P 2 20M 1M", "-c", "read -P 3 63M 1M", image.toString());
    assertThat(read).doesNotContain("Pattern verification failed");
  }

  private static boolean dirtyBit(Path image) throws Exception {
    return (ByteBuffer.wrap(Files.readAllBytes(image), 72, 8).getLong() & 1) != 0;
  }
}
