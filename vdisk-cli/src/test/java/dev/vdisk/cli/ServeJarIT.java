package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vdisk serve} as users run it: a process that writes its pid, serves, and stops cleanly on SIGTERM. */
class ServeJarIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  private Process start(Path log, String... args) throws IOException {
    List<String> cmd = new java.util.ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve", "-t"));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  private static void awaitLog(Path log, String text) throws IOException, InterruptedException {
    for (int i = 0; i < 300; i++) {
      if (Files.exists(log) && Files.readString(log, StandardCharsets.UTF_8).contains(text)) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no '" + text + "' in the log within 15 s:\n" + Files.readString(log, StandardCharsets.UTF_8));
  }

  @Test
  void servesUntilSigtermThenExitsZeroAndCleansUp() throws IOException, InterruptedException {
    PeerTools.require("qemu-io");
    Path img = dir.resolve("d.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", img.toString(), "4M");
    Path sock = dir.resolve("s.sock");
    Path pid = dir.resolve("serve.pid");
    Path log = dir.resolve("serve.log");
    Process p = start(log, "-k", sock.toString(), "--pid-file", pid.toString(), "--metrics", "127.0.0.1:0", "-f", "raw", "-x", "d", img.toString());
    try {
      awaitLog(log, "event=listen");
      // The pid file is the readiness signal: written once the server listens, which the log line may precede.
      for (int i = 0; i < 300 && !Files.exists(pid); i++) {
        Thread.sleep(50);
      }
      assertThat(Files.readString(pid).trim()).isEqualTo(Long.toString(p.pid()));
      String uri = "nbd+unix:///d?socket=" + sock;
      PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x3c 1M 64k", uri);
      String url = Files.readString(log).replaceAll("(?s).*event=metrics url=(\\S+).*", "$1");
      String metrics = java.net.http.HttpClient.newHttpClient()
          .send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
      assertThat(metrics).contains("vdisk_nbd_bytes_total{command=\"write\",export=\"d\"} 65536.0");
      p.destroy(); // SIGTERM
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isZero();
    } finally {
      p.destroyForcibly();
    }
    String text = Files.readString(log);
    assertThat(text).contains("event=connect").contains("event=open").contains("export=d").contains("event=shutdown").contains("event=stopped");
    assertThat(pid).doesNotExist();
    assertThat(sock).doesNotExist();
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x3c 1M 64k", img.toString());
  }

  @Test
  void allowListRefusesOtherPeers() throws IOException, InterruptedException {
    PeerTools.require("nbdinfo");
    Path img = dir.resolve("d.img");
    Files.write(img, new byte[1 << 20]);
    Path log = dir.resolve("serve.log");
    Process p = start(log, "-p", "0", "--allow", "10.0.0.0/8", "-f", "raw", img.toString());
    try {
      awaitLog(log, "event=listen");
      String port = Files.readString(log).replaceAll("(?s).*event=listen address=127\\.0\\.0\\.1:(\\d+).*", "$1");
      PeerTools.Result r = PeerTools.run(dir, "nbdinfo", "nbd://127.0.0.1:" + port);
      assertThat(r.exit()).isNotZero();
      awaitLog(log, "event=refused peer=127.0.0.1");
    } finally {
      p.destroy();
      p.waitFor(30, TimeUnit.SECONDS);
    }
  }

  /**
   * Issue 13, fault 8: a server killed with SIGKILL leaves its unix socket behind; qemu-nbd replaces such a socket,
   * and so does vdisk serve, but only where nothing listens: a live qemu-nbd on the path is refused (and keeps
   * serving), a stale socket it left when killed is replaced, a file that is not a socket is refused untouched.
   */
  @Test
  void aStaleSocketIsReplacedAndALiveServersRefused() throws IOException, InterruptedException {
    PeerTools.require("qemu-nbd");
    PeerTools.require("nbdinfo");
    Path img = dir.resolve("d.img");
    Files.write(img, new byte[1 << 20]);
    Path sock = dir.resolve("s.sock");
    Process qemu = new ProcessBuilder("qemu-nbd", "-k", sock.toString(), "-f", "raw", img.toString())
        .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd.log").toFile()).start();
    try {
      for (int i = 0; i < 300 && !Files.exists(sock); i++) {
        Thread.sleep(50);
      }
      Path log = dir.resolve("refused.log");
      Process p = start(log, "-k", sock.toString(), "-f", "raw", img.toString());
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("vdisk serve returns at once").isTrue();
      assertThat(p.exitValue()).isEqualTo(1);
      assertThat(Files.readAllLines(log)).singleElement().asString()
          .isEqualTo("vdisk serve: " + sock + ": a server is listening on this socket (expected: a path no running server uses)");
      // vdisk's probe connected without negotiating: qemu-nbd (which exits after its last negotiated client) stays.
      Thread.sleep(500);
      assertThat(qemu.isAlive()).as("qemu-nbd keeps running").isTrue();
    } finally {
      qemu.destroyForcibly(); // SIGKILL: the socket file stays
      qemu.waitFor(30, TimeUnit.SECONDS);
    }
    assertThat(sock).as("qemu-nbd killed with SIGKILL leaves its socket").exists();
    Path log = dir.resolve("serve.log");
    Process p = start(log, "-k", sock.toString(), "-f", "raw", "-x", "d", img.toString());
    try {
      awaitLog(log, "event=listen");
      assertThat(PeerTools.check(dir, "nbdinfo", "--size", "nbd+unix:///d?socket=" + sock)).isEqualTo("1048576\n");
      p.destroy();
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isZero();
    } finally {
      p.destroyForcibly();
    }
    Path notASocket = Files.writeString(dir.resolve("file.sock"), "keep me");
    Vdisk.Result r = Vdisk.run("serve", "-k", notASocket.toString(), "-f", "raw", img.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(
        "vdisk serve: " + notASocket + ": already exists and is not a socket (expected: a path for a new socket)");
    assertThat(Files.readString(notASocket)).isEqualTo("keep me");
  }
}
