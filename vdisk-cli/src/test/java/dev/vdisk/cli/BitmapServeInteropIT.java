package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk serve -B NAME} against {@code qemu-nbd -B NAME}: {@code nbdinfo --map=qemu:dirty-bitmap:NAME} prints
 * the same runs for the same image, over bitmaps of several granularities on a disk whose size is no multiple of
 * them, read-only and writable; a missing or inconsistent bitmap is refused with qemu-nbd's message.
 */
class BitmapServeInteropIT {
  @TempDir Path dir;
  private final StringWriter log = new StringWriter();

  @BeforeAll
  static void peers() {
    BitmapPeers.require();
  }

  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void nbdinfoSeesTheRunsQemuNbdShows(boolean readOnly) throws Exception {
    Path image = dir.resolve("b.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "67109376");
    String[][] bitmaps = {{"b64k"}, {"-g", "512", "b512"}, {"-g", "2M", "b2m"}, {"--disable", "off"}};
    for (String[] b : bitmaps) {
      List<String> cmd = new java.util.ArrayList<>(List.of("qemu-img", "bitmap", "--add"));
      cmd.addAll(List.of(b).subList(0, b.length - 1));
      cmd.addAll(List.of(image.toString(), b[b.length - 1]));
      PeerTools.check(dir, cmd.toArray(String[]::new));
    }
    PeerTools.check(dir, "qemu-io", "-c", "write 0 512", "-c", "write 3M 1M", "-c", "write -z 9000000 70000",
        "-c", "discard 20M 3M", "-c", "write 67108864 512", image.toString());
    for (String[] b : bitmaps) {
      String name = b[b.length - 1];
      String theirs = BitmapPeers.dirty(dir, image, name);
      NbdServer server = serve(image, readOnly, name);
      try {
        String ours = PeerTools.check(dir, "nbdinfo", "--map=qemu:dirty-bitmap:" + name,
            "nbd+unix:///?socket=" + dir.resolve("vdisk.sock"));
        assertThat(ours).as(name).isEqualTo(theirs);
      } finally {
        server.stop(Duration.ofSeconds(5));
      }
    }
    assertThat(BitmapPeers.check(dir, image)).as("the image after the exports").isZero();
  }

  @Test
  void aMissingOrInconsistentBitmapIsRefusedAsQemuNbdRefusesIt() throws Exception {
    Path image = dir.resolve("b.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "64M");
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", image.toString(), "b1");
    PeerTools.run(dir, "qemu-io", "-c", "write 0 64k", "-c", "abort", image.toString());
    for (String name : List.of("nope", "b1")) {
      PeerTools.Result theirs = PeerTools.run(dir, "qemu-nbd", "-r", "-k", dir.resolve("q.sock").toString(), "-f", "qcow2",
          "-B", name, image.toString());
      Vdisk.Result ours = Vdisk.run("serve", "-r", "-k", dir.resolve("v.sock").toString(), "-f", "qcow2", "-B", name,
          image.toString());
      assertThat(ours.exit()).isEqualTo(theirs.exit()).isEqualTo(1);
      assertThat(ours.errLines()).hasSize(1);
      assertThat(ours.err().replace("vdisk serve: ", "")).isEqualTo(theirs.err().lines().findFirst().orElseThrow()
          .replace("qemu-nbd: ", "") + "\n");
    }
  }

  /** Writes, zeroes and trims through a writable export mark the image's bitmaps as the same requests by qemu-io do. */
  @Test
  void writesThroughTheServerMarkTheBitmaps() throws Exception {
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    for (Path p : List.of(ours, theirs)) {
      PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", p.toString(), "64M");
      PeerTools.check(dir, "qemu-img", "bitmap", "--add", p.toString(), "b1");
      PeerTools.check(dir, "qemu-img", "bitmap", "--add", "-g", "512", p.toString(), "b2");
    }
    String[] requests = {"write 1M 64k", "write -z 5M 4k", "discard 10M 1M", "write 20971620 3000"};
    PrintWriter out = new PrintWriter(log, true);
    Export e = new ExportSpec("", ours.toString(), "qcow2", CacheMode.WRITEBACK, false, DiscardMode.UNMAP, "")
        .open(new EventLog(out), out);
    NbdServer server = new NbdServer(List.of(e), ServerConfig.DEFAULTS, new EventLog(out));
    Path sock = dir.resolve("rw.sock");
    server.listen(UnixDomainSocketAddress.of(sock));
    try {
      for (String r : requests) {
        PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", r, "nbd+unix:///?socket=" + sock);
        PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", r, theirs.toString());
      }
    } finally {
      server.stop(Duration.ofSeconds(5));
    }
    BitmapPeers.assertSame(dir, ours, theirs);
  }

  private NbdServer serve(Path image, boolean readOnly, String bitmap) throws Exception {
    PrintWriter out = new PrintWriter(log, true);
    Export e = new ExportSpec("", image.toString(), "qcow2", CacheMode.WRITEBACK, readOnly, DiscardMode.IGNORE, "",
        DetectZeroesFilter.Mode.OFF, bitmap, false, 0, Aio.THREADS).open(new EventLog(out), out);
    NbdServer s = new NbdServer(List.of(e), ServerConfig.DEFAULTS, new EventLog(out));
    Path sock = dir.resolve("vdisk.sock");
    Files.deleteIfExists(sock);
    s.listen(UnixDomainSocketAddress.of(sock));
    return s;
  }
}
