package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code vdisk resize} against qemu-img resize, and qcow2 images vdisk grew checked by qemu-img. */
class ResizeInteropIT {
  @TempDir Path dir;

  private String img(String... args) throws IOException, InterruptedException {
    String[] cmd = new String[args.length + 1];
    cmd[0] = "qemu-img";
    System.arraycopy(args, 0, cmd, 1, args.length);
    return PeerTools.check(dir, cmd);
  }

  /** Growth past what the L1 table maps moves the table; the data before and after stays readable. */
  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=512", "cluster_size=65536", "compat=0.10,cluster_size=4096"})
  void growingQcow2StaysCleanAndKeepsData(String options) throws IOException, InterruptedException {
    img("create", "-q", "-f", "qcow2", "-o", options, "g.qcow2", "1M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "g.qcow2");
    String file = dir.resolve("g.qcow2").toString();
    Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", file, "+3G");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Image resized.\n");
    assertThat(img("info", "--output=json", "g.qcow2")).contains("\"virtual-size\": " + ((3L << 30) + (1 << 20)));
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 3G 64k", "g.qcow2");
    String reads = PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "read -P 0x11 0 1M", "-c", "read -P 0 1M 1M",
        "-c", "read -P 0x22 3G 64k", "g.qcow2");
    assertThat(reads).doesNotContain("Pattern verification failed");
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "g.qcow2");
    assertThat(check.exit()).as(check.out() + check.err()).isZero();
  }

  @Test
  void rawGrowsAndShrinksLikeQemuImg() throws IOException, InterruptedException {
    img("create", "-q", "-f", "raw", "a.raw", "1M");
    img("create", "-q", "-f", "raw", "b.raw", "1M");
    String a = dir.resolve("a.raw").toString();
    for (String[] step : new String[][] {{"+1M"}, {"--shrink", "-512K"}, {"3M"}}) {
      String[] ours = step.length == 2 ? new String[] {"resize", "-f", "raw", step[0], a, step[1]}
          : new String[] {"resize", "-f", "raw", a, step[0]};
      assertThat(Vdisk.run(ours).exit()).isZero();
      if (step.length == 2) {
        img("resize", "-f", "raw", step[0], "b.raw", step[1]);
      } else {
        img("resize", "-f", "raw", "b.raw", step[0]);
      }
      assertThat(Files.size(dir.resolve("a.raw"))).isEqualTo(Files.size(dir.resolve("b.raw")));
    }
  }

  @Test
  void shrinkingNeedsShrinkAndQcow2RefusesItClearly() throws IOException, InterruptedException {
    img("create", "-q", "-f", "raw", "a.raw", "1M");
    Vdisk.Result r = Vdisk.run("resize", "-f", "raw", dir.resolve("a.raw").toString(), "-512K");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().contains("expected: --shrink");
    assertThat(Files.size(dir.resolve("a.raw"))).isEqualTo(1 << 20);
    img("create", "-q", "-f", "qcow2", "q.qcow2", "1M");
    r = Vdisk.run("resize", "-f", "qcow2", "--shrink", dir.resolve("q.qcow2").toString(), "512K");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().contains("shrinking qcow2 images is not supported yet");
    assertThat(img("info", "--output=json", "q.qcow2")).contains("\"virtual-size\": 1048576");
  }
}
