package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.testkit.Peers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host block devices as targets, as qemu-img's {@code host_device} driver takes them: {@code create} and
 * {@code convert} write the format onto a loop device, never truncate or replace it, take its size from the device,
 * and qemu-img reads the result back (check clean, compare identical). Needs {@code losetup} and the right to attach
 * a loop device (root); skipped with the reason elsewhere, failed under CI.
 */
class BlockDeviceTargetIT {
  private static final long DEVICE = 64L << 20;

  @TempDir Path dir;
  private String loop;

  @BeforeEach
  void attach() throws IOException, InterruptedException {
    PeerTools.require("losetup");
    PeerTools.require("qemu-img");
    Path backing = dir.resolve("loop.img");
    PeerTools.check(dir, "truncate", "-s", Long.toString(DEVICE), backing.toString());
    PeerTools.Result r = PeerTools.run(dir, "losetup", "-f", "--show", backing.toString());
    Peers.requireThat(r.exit() == 0, "cannot attach a loop device here: " + r.err().strip());
    loop = r.out().strip();
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0xee 0 64M", loop); // old data on the device
  }

  @AfterEach
  void detach() throws IOException, InterruptedException {
    if (loop != null) {
      PeerTools.run(dir, "losetup", "-d", loop);
    }
  }

  private Path source() throws IOException, InterruptedException {
    Path src = dir.resolve("src.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", src.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 64k", "-c", "write -P 0x11 7M 4k", src.toString());
    return src;
  }

  @Test
  void createQcow2OnADeviceLargerOrSmallerThanTheDisk() throws IOException, InterruptedException {
    for (String size : new String[] {"1G", "16M"}) {
      Vdisk.Result r = Vdisk.run("create", "-q", "-f", "qcow2", loop, size);
      assertThat(r.exit()).as(r.err()).isZero();
      assertThat(PeerTools.check(dir, "qemu-img", "check", "-f", "qcow2", loop)).contains("No errors were found");
      assertThat(Vdisk.run("info", "-f", "qcow2", loop).out()).isEqualTo(PeerTools.check(dir, "qemu-img", "info", "-f", "qcow2", loop));
      assertThat(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "qcow2", loop))
          .as("old bytes on the device do not show through").doesNotContain("\"data\": true");
    }
    assertThat(Files.size(dir.resolve("loop.img"))).isEqualTo(DEVICE);
  }

  @Test
  void rawLargerThanTheDeviceIsRefusedLikeQemuImg() throws IOException, InterruptedException {
    Vdisk.Result r = Vdisk.run("create", "-f", "raw", loop, "1G");
    assertThat(r.exit()).isEqualTo(PeerTools.run(dir, "qemu-img", "create", "-f", "raw", loop, "1G").exit());
    assertThat(r.errLines()).hasSize(1);
    assertThat(r.err()).contains(loop).contains("67108864");
  }

  @Test
  void convertOntoTheDevice() throws IOException, InterruptedException {
    Path src = source();
    Vdisk.Result raw = Vdisk.run("convert", "-O", "raw", src.toString(), loop);
    assertThat(raw.exit()).as(raw.err()).isZero();
    assertThat(Files.mismatch(src, dir.resolve("loop.img"))).as("the device holds the source, then its old bytes")
        .isEqualTo(8 << 20);

    Vdisk.Result qcow2 = Vdisk.run("convert", "-O", "qcow2", src.toString(), loop);
    assertThat(qcow2.exit()).as(qcow2.err()).isZero();
    assertThat(PeerTools.check(dir, "qemu-img", "check", "-f", "qcow2", loop)).contains("No errors were found");
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", loop, src.toString())).contains("identical");
    assertThat(Vdisk.run("compare", "-f", "qcow2", loop, src.toString()).exit()).isZero();
    assertThat(Files.size(dir.resolve("loop.img"))).isEqualTo(DEVICE);
  }
}
