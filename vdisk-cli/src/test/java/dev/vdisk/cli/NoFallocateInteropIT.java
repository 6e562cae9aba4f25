package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.testkit.Peers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images on a file system without fallocate (ext2: its files have no extents, so it cannot reserve blocks without
 * writing them), where QEMU's {@code preallocation=falloc} still works because glibc's posix_fallocate writes
 * instead: vdisk's falloc images come out byte for byte and block for block as qemu-img's. Needs mkfs.ext2 and the
 * right to mount a loop device (root); skipped with the reason elsewhere, failed under CI.
 */
class NoFallocateInteropIT {
  @TempDir static Path tmp;
  private static Path fs;

  @BeforeAll
  static void mount() throws Exception {
    PeerTools.require("qemu-img");
    PeerTools.require("mkfs.ext2");
    Path backing = tmp.resolve("ext2.img");
    PeerTools.check(tmp, "truncate", "-s", "256M", backing.toString());
    PeerTools.check(tmp, "mkfs.ext2", "-q", "-F", backing.toString());
    fs = Files.createDirectory(tmp.resolve("ext2"));
    PeerTools.Result r = PeerTools.run(tmp, "mount", "-o", "loop", backing.toString(), fs.toString());
    Peers.requireThat(r.exit() == 0, "cannot mount an ext2 loop file system here: " + r.err().strip());
  }

  @AfterAll
  static void unmount() throws Exception {
    if (fs != null) {
      PeerTools.run(tmp, "umount", fs.toString());
    }
  }

  @Test
  void fallocPreallocationWritesWhereTheFileSystemCannotReserve() throws Exception {
    for (String format : new String[] {"raw", "qcow2"}) {
      Path ours = fs.resolve("vdisk." + format);
      Path theirs = fs.resolve("qemu." + format);
      Vdisk.Result r = Vdisk.run("create", "-q", "-f", format, "-o", "preallocation=falloc", ours.toString(), "24M");
      assertThat(r.exit()).as(r.err()).isZero();
      PeerTools.check(tmp, "qemu-img", "create", "-q", "-f", format, "-o", "preallocation=falloc", theirs.toString(), "24M");

      assertThat(Files.mismatch(ours, theirs)).as(format).isEqualTo(-1);
      assertThat(allocated(ours)).as("%s: blocks held", format).isEqualTo(allocated(theirs)).isGreaterThan(24L << 20);
      if (format.equals("qcow2")) {
        assertThat(PeerTools.check(tmp, "qemu-img", "check", ours.toString())).contains("No errors were found");
      }
    }
  }

  private static long allocated(Path file) throws IOException, InterruptedException {
    return Long.parseLong(PeerTools.check(tmp, "stat", "-c", "%b", file.toString()).strip()) * 512;
  }
}
