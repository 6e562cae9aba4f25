package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.testkit.Peers;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real file system that fills up (a 2 MiB tmpfs) under vdisk's writes: the command fails with one line naming
 * ENOSPC and a non-zero exit, and {@code qemu-img} finds the image consistent (leaks at worst) with the data
 * written before intact. Needs the right to mount (root outside an unprivileged container, as on CI, where it must
 * run); skipped with the reason elsewhere. The simulated full disk of vdisk-core's {@code Qcow2DiskFullIT} runs everywhere.
 */
class DiskFullInteropIT {
  @TempDir static Path tmp;
  private static Path full;

  @BeforeAll
  static void mount() throws Exception {
    PeerTools.require("qemu-img");
    full = Files.createDirectory(tmp.resolve("full"));
    PeerTools.Result r = PeerTools.run(tmp, "mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", full.toString());
    Peers.requireThat(r.exit() == 0, "cannot mount a small tmpfs here: " + r.err().strip());
  }

  @AfterAll
  static void unmount() throws Exception {
    if (full != null) {
      PeerTools.run(tmp, "umount", full.toString());
    }
  }

  @Test
  void aFullDiskFailsTheWriteWithOneLineAndLeavesAConsistentImage() throws Exception {
    String img = full.resolve("img.qcow2").toString();
    assertThat(Vdisk.run("create", "-q", "-f", "qcow2", img, "64M").exit()).isZero();
    assertThat(Vdisk.run("io", "-c", "write -P 0x11 0 64k", img).exit()).isZero();

    Vdisk.Result r = Vdisk.run("io", "-c", "write -P 0x5a 1M 8M", img);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().startsWith("vdisk io: ").contains("No space left on device");

    PeerTools.Result check = PeerTools.run(tmp, "qemu-img", "check", img);
    assertThat(check.exit()).as("qemu-img check: %s", check.out()).isIn(0, 3);
    assertThat(PeerTools.check(tmp, "qemu-io", "-f", "qcow2", "-c", "read -P 0x11 0 64k", img)).doesNotContain("Pattern verification failed");

    Path source = tmp.resolve("source.raw");
    PeerTools.check(tmp, "qemu-img", "create", "-q", "-f", "raw", source.toString(), "8M");
    PeerTools.check(tmp, "qemu-io", "-f", "raw", "-c", "write -P 0x77 0 8M", source.toString());
    Vdisk.Result convert = Vdisk.run("convert", "-O", "qcow2", source.toString(), full.resolve("out.qcow2").toString());
    assertThat(convert.exit()).isEqualTo(1);
    assertThat(convert.errLines()).singleElement().asString().contains("No space left on device");
  }
}
