package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Data written by qemu-io reads back through {@code vdisk io}, and the other way round. */
class IoInteropIT {
  @TempDir Path dir;
  private String img;

  @BeforeEach
  void image() throws IOException, InterruptedException {
    img = dir.resolve("io.img").toString();
    Vdisk.Result r = Vdisk.run("create", "-q", img, "4M");
    assertThat(r.exit()).as(r.err()).isZero();
  }

  @Test
  void whatQemuIoWritesVdiskReads() throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 64k", "-c", "write 2M 512", "-c", "write -z 1M 4k", img);
    Vdisk.Result r = Vdisk.run("io", "-f", "raw", "-r", "-c", "read -q -P 0 1M 4k", "-c", "read -q -P 0x5a 1028k 60k",
        "-c", "read -q -P 0xcd 2M 512", "-c", "read -q -P 0 0 1M", img);
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).isEmpty();
    Vdisk.Result wrong = Vdisk.run("io", "-f", "raw", "-r", "-c", "read -q -P 0x5b 1028k 4k", img);
    assertThat(wrong.exit()).isEqualTo(1);
    assertThat(wrong.out()).isEqualTo("Pattern verification failed at offset 1052672, 4096 bytes\n");
  }

  @Test
  void whatVdiskWritesQemuIoReads() throws IOException, InterruptedException {
    Vdisk.Result r = Vdisk.run("io", "-f", "raw", "-c", "write -q -P 0xa5 0 128k", "-c", "write -q 3M 4k",
        "-c", "write -q -z 64k 4k", "-c", "write -q -f -P 7 4190208 4096", "-c", "flush", img);
    assertThat(r.exit()).as(r.err()).isZero();
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0xa5 0 64k", "-c", "read -P 0 64k 4k",
        "-c", "read -P 0xa5 68k 60k", "-c", "read -P 0xcd 3M 4k", "-c", "read -P 7 4190208 4096", img);
    PeerTools.Result wrong = PeerTools.run(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0xa5 64k 4k", img);
    assertThat(wrong.exit()).isEqualTo(1);
    assertThat(wrong.out()).startsWith("Pattern verification failed at offset 65536, 4096 bytes\n");
  }

  /** The report lines differ from qemu-io's only in the timing numbers. */
  @Test
  void reportLinesMatchQemuIosApartFromTiming() throws IOException, InterruptedException {
    String[] cmds = {"write -P 1 1M 64k", "read -P 1 1M 64k", "read 0 100", "discard 2M 64k", "write -z 3M 1k", "map"};
    String[] qemuArgs = new String[cmds.length * 2 + 4];
    String[] ourArgs = new String[cmds.length * 2 + 4];
    qemuArgs[0] = "qemu-io";
    ourArgs[0] = "io";
    for (String[] a : new String[][] {qemuArgs, ourArgs}) {
      a[1] = "-f";
      a[2] = "raw";
      for (int i = 0; i < cmds.length; i++) {
        a[3 + 2 * i] = "-c";
        a[4 + 2 * i] = cmds[i];
      }
      a[a.length - 1] = img;
    }
    String theirs = PeerTools.check(dir, qemuArgs);
    Vdisk.Result ours = Vdisk.run(ourArgs);
    assertThat(ours.exit()).as(ours.err()).isZero();
    assertThat(withoutTiming(ours.out())).isEqualTo(withoutTiming(theirs));
  }

  private static String withoutTiming(String s) {
    return s.replaceAll("; [^(]+\\([^)]+\\)", "; TIMING");
  }
}
