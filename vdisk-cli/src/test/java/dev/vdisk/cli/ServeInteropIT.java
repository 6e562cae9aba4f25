package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vdisk's NBD server driven by the real clients: nbdinfo, nbdcopy, qemu-img and qemu-io (QEMU's NBD
 * client), over TCP and a unix socket, compared with qemu-nbd serving the same files where outputs can be
 * compared byte for byte.
 */
class ServeInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;
  private final List<NbdServer> servers = new ArrayList<>();
  private final StringWriter log = new StringWriter();

  @BeforeEach
  void peers() {
    for (String tool : List.of("qemu-img", "qemu-io", "qemu-nbd", "nbdinfo", "nbdcopy")) {
      PeerTools.require(tool);
    }
  }

  @AfterEach
  void stop() {
    servers.forEach(s -> s.stop(Duration.ofSeconds(5)));
  }

  /** The URIs of one running server: TCP and unix socket. */
  private record Uris(String tcp, String unix, String socket) {
    String tcp(String export) {
      return tcp + "/" + export;
    }

    String unix(String export) {
      return "nbd+unix:///" + export + "?socket=" + socket;
    }
  }

  /** Opens an export as {@code vdisk serve} does. */
  private Export export(String name, Path file, String format, boolean readOnly, DiscardMode discard) throws IOException {
    return new ExportSpec(name, file.toString(), format, CacheMode.WRITEBACK, readOnly, discard, "desc of " + name)
        .withAllocationDepth().open(new EventLog(new PrintWriter(log, true)), new PrintWriter(log, true));
  }

  private Uris serve(Export... exports) throws IOException {
    NbdServer s = new NbdServer(List.of(exports), ServerConfig.DEFAULTS, new EventLog(new PrintWriter(log, true)));
    servers.add(s);
    InetSocketAddress tcp = (InetSocketAddress) s.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    Path sock = dir.resolve("vdisk-" + servers.size() + ".sock");
    s.listen(UnixDomainSocketAddress.of(sock));
    return new Uris("nbd://127.0.0.1:" + tcp.getPort(), null, sock.toString());
  }

  /** A raw image with data, a hole and more data: {@code 0-1M data 0x11, 1M-3M hole, 3M-3.5M data 0x22}, 8 MiB. */
  private Path sparseRaw(String name) throws IOException, InterruptedException {
    Path img = dir.resolve(name);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", img.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 3M 512k", img.toString());
    return img;
  }

  @Test
  void nbdinfoSeesWhatTheExportsOffer() throws IOException, InterruptedException {
    Path a = sparseRaw("a.img");
    Path b = sparseRaw("b.img");
    Uris u = serve(export("rw", a, "raw", false, DiscardMode.UNMAP), export("ro", b, "raw", true, DiscardMode.UNMAP));
    JsonNode list = JSON.readTree(PeerTools.check(dir, "nbdinfo", "--list", "--json", u.tcp("")));
    List<String> names = new ArrayList<>();
    list.get("exports").forEach(e -> names.add(e.get("export-name").asText()));
    assertThat(names).containsExactly("rw", "ro");
    JsonNode rw = list.get("exports").get(0);
    assertThat(rw.get("description").asText()).isEqualTo("desc of rw");
    assertThat(rw.get("export-size").asLong()).isEqualTo(8 << 20);
    assertThat(rw.get("is_read_only").asBoolean()).isFalse();
    assertThat(rw.get("can_trim").asBoolean()).isTrue();
    assertThat(rw.get("can_zero").asBoolean()).isTrue();
    assertThat(rw.get("can_fua").asBoolean()).isTrue();
    assertThat(rw.get("can_df").asBoolean()).isTrue();
    assertThat(rw.get("block_size_maximum").asLong()).isEqualTo(32 << 20);
    JsonNode ro = list.get("exports").get(1);
    assertThat(ro.get("is_read_only").asBoolean()).isTrue();
    assertThat(ro.get("can_trim").asBoolean()).isFalse();

    assertThat(PeerTools.run(dir, "nbdinfo", "--can", "trim", u.unix("rw")).exit()).isZero();
    assertThat(PeerTools.run(dir, "nbdinfo", "--can", "trim", u.unix("ro")).exit()).isEqualTo(2);
    assertThat(PeerTools.run(dir, "nbdinfo", "--is", "read-only", u.unix("ro")).exit()).isZero();
    assertThat(PeerTools.run(dir, "nbdinfo", "--can", "multi-conn", u.tcp("rw")).exit()).isZero();
    assertThat(PeerTools.run(dir, "nbdinfo", u.tcp("nope")).exit()).isNotZero();
  }

  @Test
  void allocationMapsAreQemuNbds() throws IOException, InterruptedException {
    Path raw = sparseRaw("raw.img");
    Path base = dir.resolve("base.qcow2");
    Path top = dir.resolve("top.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 1 0 256k", "-c", "write -P 2 2M 64k", "-c", "write -z 4M 64k", base.toString());
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top.toString());
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 3 128k 256k", "-c", "write -z 2M 4k", top.toString());
    Uris u = serve(export("raw", raw, "raw", true, DiscardMode.IGNORE), export("top", top, "qcow2", true, DiscardMode.IGNORE));
    for (String[] c : new String[][] {{"raw", "raw"}, {"top", "qcow2"}}) {
      Path file = c[0].equals("raw") ? raw : top;
      for (String context : List.of("base:allocation", "qemu:allocation-depth")) {
        String ours = PeerTools.check(dir, "nbdinfo", "--map=" + context, u.unix(c[0]));
        String theirs = PeerTools.check(dir, "nbdinfo", "--map=" + context, "--", "[", "qemu-nbd", "-r", "-A", "-f", c[1], file.toString(), "]");
        assertThat(ours).as(c[0] + " " + context).isEqualTo(theirs);
      }
    }
    // QEMU's own client sees the same allocation through vdisk as through qemu-nbd
    Path qsock = dir.resolve("qemu-nbd.sock");
    Process qemuNbd = new ProcessBuilder("qemu-nbd", "-r", "-A", "-f", "qcow2", "-x", "top", "-k", qsock.toString(), top.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd.log").toFile()).start();
    try {
      for (int i = 0; i < 100 && !Files.exists(qsock); i++) {
        Thread.sleep(50);
      }
      String theirs = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", "nbd+unix:///top?socket=" + qsock);
      String ours = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", u.tcp("top"));
      assertThat(ours).isEqualTo(theirs);
    } finally {
      qemuNbd.destroy();
      qemuNbd.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void nbdcopyBothWaysKeepsTheBytes() throws IOException, InterruptedException {
    Path source = sparseRaw("source.img");
    Path target = dir.resolve("target.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", target.toString(), "8M");
    Path back = dir.resolve("back.img");
    Uris u = serve(export("t", target, "raw", false, DiscardMode.UNMAP));
    PeerTools.check(dir, "nbdcopy", source.toString(), u.tcp("t"));
    PeerTools.check(dir, "nbdcopy", u.unix("t"), back.toString());
    assertThat(Files.mismatch(source, back)).isEqualTo(-1);
    PeerTools.check(dir, "qemu-img", "compare", "-f", "raw", "-F", "raw", source.toString(), u.unix("t"));
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x22 3M 512k", "-c", "read -P 0 1M 2M", u.unix("t")))
        .doesNotContain("fail");
  }

  @Test
  void qemuImgAndQemuIoReadWriteDiscardAndZeroOverBothTransports() throws IOException, InterruptedException {
    Path img = sparseRaw("rw.img");
    Uris u = serve(export("d", img, "raw", false, DiscardMode.UNMAP));
    for (String uri : List.of(u.tcp("d"), u.unix("d"))) {
      JsonNode info = JSON.readTree(PeerTools.check(dir, "qemu-img", "info", "--output=json", uri));
      assertThat(info.get("virtual-size").asLong()).isEqualTo(8 << 20);
      String out = PeerTools.check(dir, "qemu-io", "-f", "raw",
          "-c", "write -P 0x5a 4M 1M", "-c", "read -P 0x5a 4M 1M",
          "-c", "write -z 4M 64k", "-c", "read -P 0 4M 64k",
          "-c", "write -z -u 4352k 64k", "-c", "read -P 0 4352k 64k",
          "-c", "discard 4608k 256k", "-c", "write -f -P 7 6M 4k", "-c", "flush", "-c", "read -P 0x11 0 1M", uri);
      assertThat(out).doesNotContain("fail").doesNotContain("error");
    }
    // the file itself holds what the clients wrote, and the discarded range is a hole again
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x5a 4160k 192k", "-c", "read -P 0 4M 64k",
        "-c", "read -P 0 4352k 64k", "-c", "read -P 7 6M 4k", img.toString());
    JsonNode map = JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", img.toString()));
    boolean holeAtDiscard = false;
    for (JsonNode e : map) {
      long start = e.get("start").asLong();
      long end = start + e.get("length").asLong();
      if (start <= 4608 * 1024 && end >= 4864 * 1024 && !e.get("data").asBoolean()) {
        holeAtDiscard = true;
      }
    }
    assertThat(holeAtDiscard).as("discarded 4608k+256k is unallocated in the file").isTrue();

    Path copy = dir.resolve("copy.qcow2");
    PeerTools.check(dir, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", u.tcp("d"), copy.toString());
    PeerTools.check(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", copy.toString(), img.toString());
  }

  @Test
  void qcow2IsServedWritable() throws IOException, InterruptedException {
    Path q = dir.resolve("q.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", q.toString(), "4M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 9 64k 64k", q.toString());
    Path ref = dir.resolve("ref.qcow2");
    Files.copy(q, ref);
    List<String> commands = List.of("write -P 7 0 4k", "write -z 64k 64k", "write -P 8 1M 100k", "discard 2M 1M");
    Uris u = serve(export("q", q, "qcow2", false, DiscardMode.UNMAP));
    assertThat(PeerTools.run(dir, "nbdinfo", "--is", "read-only", u.unix("q")).exit()).isNotZero();
    PeerTools.check(dir, qemuIo("raw", u.unix("q"), commands));
    stop(); // flushes and closes the export, as vdisk serve does on SIGTERM
    PeerTools.check(dir, qemuIo("qcow2", ref.toString(), commands));
    PeerTools.check(dir, "qemu-img", "check", q.toString());
    PeerTools.check(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", q.toString(), ref.toString());
  }

  private static String[] qemuIo(String format, String target, List<String> commands) {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(target);
    return cmd.toArray(String[]::new);
  }
}
