package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vdisk serve} and {@code qemu-nbd} run with the same command line: {@code nbdinfo --list --json} reports
 * the same export (size, flags, block sizes, contexts with and without {@code -A}, name, description), both exit
 * after their last client without {@code -t} and stay with it, and with {@code --fork} both return once the socket
 * exists; under socket activation ({@code systemd-socket-activate}) both serve on the socket they inherit.
 */
class ServeHabitsInteropIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    for (String tool : List.of("qemu-img", "qemu-nbd", "nbdinfo")) {
      PeerTools.require(tool);
    }
  }

  private List<String> vdisk(String... args) {
    List<String> cmd = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve"));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private static List<String> qemuNbd(String... args) {
    List<String> cmd = new ArrayList<>(List.of("qemu-nbd"));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private Process start(List<String> cmd, String logName) throws IOException {
    return new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(dir.resolve(logName).toFile()).start();
  }

  private static void awaitSocket(Path sock, Process p) throws InterruptedException {
    for (int i = 0; i < 400 && !Files.exists(sock) && p.isAlive(); i++) {
      Thread.sleep(50);
    }
    assertThat(sock).as("socket of " + p.info().commandLine().orElse("?")).exists();
  }

  /** What nbdinfo --list --json says about the server behind {@code sock}, without the URI (which names the socket). */
  private String list(Path sock) throws IOException, InterruptedException {
    // A refused connection is retried, which neither server counts as a client (a probe connection would make a
    // qemu-nbd without -t exit).
    return PeerTools.checkConnecting(dir, "nbdinfo", "--list", "--json", "nbd+unix:///?socket=" + sock)
        .replaceAll("(?m)^\\s*\"uri\": .*\\n", "");
  }

  /** Starts both servers with {@code options} and FILE {@code image} (the socket added), and returns each one's listing. */
  private String[] listBoth(String image, String... options) throws Exception {
    String[] out = new String[2];
    int i = 0;
    for (String who : List.of("qemu", "vdisk")) {
      Path sock = dir.resolve(who + ".sock");
      Files.deleteIfExists(sock); // a socket a stopped server left must not be taken for the new one's
      List<String> args = new ArrayList<>(List.of("-t", "-k", sock.toString()));
      args.addAll(List.of(options));
      args.add(image);
      String[] a = args.toArray(String[]::new);
      Process p = start(who.equals("qemu") ? qemuNbd(a) : vdisk(a), who + ".log");
      try {
        awaitSocket(sock, p);
        assertThat(p.isAlive()).as(String.join(" ", a) + ": " + Files.readString(dir.resolve(who + ".log"))).isTrue();
        out[i++] = list(sock);
      } finally {
        p.destroy();
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
    return out;
  }

  @Test
  void nbdinfoListsTheSameExportAsQemuNbd() throws Exception {
    Path raw = dir.resolve("d.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", raw.toString(), "3M");
    Path qcow2 = dir.resolve("d.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", qcow2.toString(), "5M");
    List<String[]> optionSets = List.of(
        new String[] {"-f", "raw", "--discard=unmap"},
        new String[] {"-f", "raw"}, // discard=ignore: trims offered (and dropped), as qemu-nbd
        new String[] {"-f", "raw", "--discard=ignore", "-e", "2"},
        new String[] {"-f", "raw", "-A", "--discard=unmap", "-x", "disk", "-D", "a described disk"},
        new String[] {"-f", "raw", "-r", "-e", "3", "-A"},
        new String[] {"-f", "raw", "--cache=none", "--aio=threads", "-e", "0", "--discard=unmap"},
        new String[] {"-f", "raw", "-n", "--discard=unmap", "--detect-zeroes=unmap", "-v"}, // qemu-nbd wants this order
        new String[] {"-f", "raw", "-o", "1048576", "-A", "--discard=unmap"});
    for (String[] options : optionSets) {
      String[] both = listBoth(raw.toString(), options);
      assertThat(both[1]).as("vdisk serve " + String.join(" ", options)).isEqualTo(both[0]);
    }
    for (String opts : List.of("driver=raw,file.filename=" + raw, "driver=qcow2,file.driver=file,file.filename=" + qcow2)) {
      String[] both = listBoth(opts, "--image-opts", "-A");
      assertThat(contexts(both[1])).as("vdisk serve --image-opts " + opts).isEqualTo(contexts(both[0]));
      assertThat(size(both[1])).as("vdisk serve --image-opts " + opts).isEqualTo(size(both[0]));
    }
    // qcow2: the contexts offered with and without -A (the preferred block size differs on purpose: docs/nbd.md)
    for (String[] options : List.of(new String[] {"-f", "qcow2"}, new String[] {"-f", "qcow2", "-A"})) {
      String[] both = listBoth(qcow2.toString(), options);
      assertThat(contexts(both[1])).as("vdisk serve " + String.join(" ", options)).isEqualTo(contexts(both[0]));
    }
  }

  @Test
  void listPrintsWhatQemuNbdListPrints() throws Exception {
    Path qcow2 = dir.resolve("l.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", qcow2.toString(), "16M");
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", qcow2.toString(), "b0");
    Path raw = dir.resolve("l.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", raw.toString(), "3M");
    Map<String, List<String>> servers = Map.of(
        "qemu", qemuNbd("-t", "-x", "exp1", "-D", "my disk", "-f", "qcow2", "-B", "b0", "-A", qcow2.toString()),
        "vdisk", vdisk("-t", "--export", "name=a,file=" + qcow2 + ",format=qcow2,bitmap=b0,description=first",
            "--export", "name=b,file=" + raw + ",format=raw,read-only,allocation-depth"));
    for (var server : servers.entrySet()) {
      Path sock = dir.resolve(server.getKey() + "-list.sock");
      List<String> cmd = new ArrayList<>(server.getValue());
      cmd.addAll(cmd.size() - (server.getKey().equals("qemu") ? 1 : 0), List.of("-k", sock.toString()));
      Process p = start(cmd, server.getKey() + "-list.log");
      try {
        awaitSocket(sock, p);
        String expected = PeerTools.checkConnecting(dir, "qemu-nbd", "-L", "-k", sock.toString());
        assertThat(expected).contains("exports available: " + (server.getKey().equals("qemu") ? 1 : 2));
        assertThat(run(vdisk("-L", "-k", sock.toString()), 0)).as("vdisk serve -L of " + server.getKey())
            .isEqualTo(expected);
      } finally {
        p.destroy();
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
    String missing = dir.resolve("none.sock").toString();
    assertThat(run(vdisk("-L", "-k", missing), 1)).startsWith("vdisk serve: " + missing + ": Failed to connect to '"
        + missing + "'").hasLineCount(1);
  }

  /** Runs {@code cmd} to its end and returns its output (stdout and stderr), checking its exit status. */
  private String run(List<String> cmd, int exit) throws Exception {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isEqualTo(exit);
    return out;
  }

  private static String size(String json) {
    return json.replaceAll("(?s).*(\"export-size\": \\d+).*", "$1");
  }

  private static String contexts(String json) {
    return json.replaceAll("(?s).*(\"contexts\": \\[[^]]*]).*", "$1");
  }

  @Test
  void exitsAfterTheLastClientUnlessPersistent() throws Exception {
    Path raw = dir.resolve("d.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", raw.toString(), "1M");
    for (String who : List.of("qemu", "vdisk")) {
      for (boolean persistent : List.of(false, true)) {
        Path sock = dir.resolve(who + persistent + ".sock");
        List<String> args = new ArrayList<>(List.of("-r", "-f", "raw", "-k", sock.toString()));
        if (persistent) {
          args.add("-t");
        }
        args.add(raw.toString());
        String[] a = args.toArray(String[]::new);
        Process p = start(who.equals("qemu") ? qemuNbd(a) : vdisk(a), who + persistent + ".log");
        try {
          awaitSocket(sock, p);
          list(sock); // listing only: not a client that was served, so neither server counts it
          Thread.sleep(500);
          assertThat(p.isAlive()).as(who + " after nbdinfo --list").isTrue();
          PeerTools.check(dir, "nbdinfo", "--size", "nbd+unix:///?socket=" + sock);
          boolean exited = p.waitFor(persistent ? 2 : 30, TimeUnit.SECONDS);
          assertThat(exited).as(who + (persistent ? " -t stays after its client" : " exits after its last client")).isEqualTo(!persistent);
          if (exited) {
            assertThat(p.exitValue()).as(who + "'s exit status").isZero();
          }
        } finally {
          p.destroy();
          p.waitFor(30, TimeUnit.SECONDS);
        }
      }
    }
  }

  @Test
  void forkReturnsOnceTheSocketExists() throws Exception {
    Path raw = dir.resolve("d.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", raw.toString(), "2M");
    for (String who : List.of("qemu", "vdisk")) {
      Path sock = dir.resolve(who + ".sock");
      Path pid = dir.resolve(who + ".pid");
      String[] a = {"--fork", "-r", "-f", "raw", "-k", sock.toString(), "--pid-file", pid.toString(), raw.toString()};
      Process parent = start(who.equals("qemu") ? qemuNbd(a) : vdisk(a), who + ".log");
      assertThat(parent.waitFor(60, TimeUnit.SECONDS)).as(who + " --fork returns").isTrue();
      assertThat(parent.exitValue()).as(who + " --fork status: " + Files.readString(dir.resolve(who + ".log"))).isZero();
      assertThat(sock).as(who + "'s socket when --fork returns").exists();
      assertThat(pid).as(who + "'s pid file when --fork returns").exists();
      long child = Long.parseLong(Files.readString(pid).trim());
      try {
        assertThat(PeerTools.check(dir, "nbdinfo", "--size", "nbd+unix:///?socket=" + sock).trim()).isEqualTo("2097152");
        // its only client has gone: the background server exits as well
        ProcessHandle h = ProcessHandle.of(child).orElse(null);
        if (h != null) {
          h.onExit().get(30, TimeUnit.SECONDS);
        }
      } finally {
        ProcessHandle.of(child).ifPresent(ProcessHandle::destroy);
      }
    }
  }

  @Test
  void socketActivationServesOnTheInheritedSocket() throws Exception {
    PeerTools.require("systemd-socket-activate");
    Path raw = dir.resolve("d.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", raw.toString(), "3M");
    for (String who : List.of("qemu", "vdisk")) {
      Path sock = dir.resolve(who + "-activated.sock");
      String[] a = {"-r", "-f", "raw", "-x", "e", raw.toString()};
      List<String> cmd = new ArrayList<>(List.of("systemd-socket-activate", "-l", sock.toString(), "--"));
      cmd.addAll(who.equals("qemu") ? qemuNbd(a) : vdisk(a));
      Process p = start(cmd, who + "-activated.log");
      try {
        awaitSocket(sock, p);
        assertThat(PeerTools.check(dir, "nbdinfo", "--size", "nbd+unix:///e?socket=" + sock).trim()).as(who).isEqualTo("3145728");
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).as(who + " exits after its client").isTrue();
        assertThat(p.exitValue()).as(who + ": " + Files.readString(dir.resolve(who + "-activated.log"))).isZero();
      } finally {
        p.destroy();
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
  }
}
