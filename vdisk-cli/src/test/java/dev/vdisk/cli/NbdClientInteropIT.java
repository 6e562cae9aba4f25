package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.net.ConnectException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * NBD exports as images: {@code vdisk info/map/check/compare/measure/convert} on {@code nbd+unix://} URIs (and the
 * same exports through {@code json:} and {@code --image-opts}) print what qemu-img prints on the same names, with
 * the same exit codes, against the three servers: qemu-nbd, nbdkit (file and memory plugins) and vdisk serve. A
 * qcow2 file exported as raw bytes is read as qcow2 over the network; {@code convert} to an export writes the same
 * bytes qemu-img reads back; a sparse copy keeps its holes; a refused connection, an unknown export, a server that
 * dies during a copy and one that stops answering each end in one error line and a non-zero exit, never a hang.
 */
class NbdClientInteropIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;
  private final List<Process> servers = new ArrayList<>();

  /** The servers every comparison runs against. */
  enum Server { QEMU_NBD, NBDKIT, VDISK }

  @AfterEach
  void stopServers() throws InterruptedException {
    for (Process p : servers) {
      p.destroy();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
  }

  /** A 4 MiB raw image with data, a zero write and holes, as qemu-io writes them. */
  private Path rawImage(String name) throws IOException, InterruptedException {
    Path img = dir.resolve(name);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", img.toString(), "4M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 64k", "-c", "write -z 2M 64k",
        "-c", "write -P 0x11 3M 128k", img.toString());
    return img;
  }

  private Path qcow2Image(String name) throws IOException, InterruptedException {
    Path img = dir.resolve(name);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "16M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", "-c", "write -z 4M 1M",
        "-c", "write -P 0x33 9M 64k", img.toString());
    return img;
  }

  /**
   * Exports {@code file}'s bytes (read-only unless {@code writable}) through {@code server} on a unix socket, as
   * export {@code e} (nbdkit serves any name); returns the URI once the socket answers.
   */
  private String serve(Server server, Path file, boolean writable) throws IOException, InterruptedException {
    Path sock = dir.resolve("s" + servers.size() + ".sock");
    List<String> cmd = switch (server) {
      case QEMU_NBD -> new ArrayList<>(List.of("qemu-nbd", "-t", "-e", "4", "-k", sock.toString(), "-f", "raw", "-x", "e"));
      case NBDKIT -> new ArrayList<>(List.of("nbdkit", "-f", "-U", sock.toString(), "file", "file=" + file));
      case VDISK -> new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve",
          "-t", "-e", "4", "-k", sock.toString(), "-f", "raw", "-x", "e"));
    };
    if (!writable) {
      cmd.add(server == Server.VDISK ? cmd.indexOf("serve") + 1 : 1, "-r");
    }
    if (server != Server.NBDKIT) {
      cmd.add(file.toString());
    }
    PeerTools.require(server == Server.VDISK ? "qemu-img" : cmd.get(0));
    return start(cmd, sock, server == Server.NBDKIT ? "" : "e");
  }

  private String start(List<String> cmd, Path sock, String export) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("server" + servers.size() + ".log").toFile()).start();
    servers.add(p);
    for (int i = 0; i < 300 && !Files.exists(sock); i++) {
      assertThat(p.isAlive()).as(String.join(" ", cmd) + " exited").isTrue();
      Thread.sleep(50);
    }
    assertThat(sock).exists();
    // The file exists from bind(2), a moment before listen(2): wait until it accepts (every server here is
    // persistent, so this probe connection costs nothing).
    for (int i = 0; i < 200; i++) {
      try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
        break;
      } catch (ConnectException e) {
        Thread.sleep(50);
      }
    }
    return "nbd+unix://" + (export.isEmpty() ? "" : "/" + export) + "?socket=" + sock;
  }

  /** vdisk and qemu-img run the same arguments: the same stdout and exit code. */
  private void same(String... args) throws IOException, InterruptedException {
    String[] qemu = new String[args.length + 1];
    qemu[0] = "qemu-img";
    System.arraycopy(args, 0, qemu, 1, args.length);
    PeerTools.Result theirs = PeerTools.run(dir, qemu);
    Vdisk.Result ours = Vdisk.run(args);
    assertThat(ours.out()).as(String.join(" ", args) + "\nqemu-img stderr: " + theirs.err() + "\nvdisk stderr: " + ours.err())
        .isEqualTo(theirs.out());
    assertThat(ours.exit()).as(String.join(" ", args) + ": " + ours.err()).isEqualTo(theirs.exit());
  }

  @ParameterizedTest
  @EnumSource(Server.class)
  void rawExportReadsAsQemuImgReadsIt(Server server) throws IOException, InterruptedException {
    Path img = rawImage("r.img");
    Path copy = Files.copy(img, dir.resolve("copy.img"));
    String uri = serve(server, img, false);
    same("info", uri);
    same("info", "--output=json", uri);
    same("map", uri);
    same("map", "--output=json", uri);
    same("check", uri);
    same("measure", "-O", "qcow2", uri);
    same("compare", uri, copy.toString());
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x77 3M 512", copy.toString());
    same("compare", uri, copy.toString());
    same("compare", "-s", uri, copy.toString());
  }

  @ParameterizedTest
  @EnumSource(Server.class)
  void remoteQcow2IsReadAsQcow2(Server server) throws IOException, InterruptedException {
    Path img = qcow2Image("q.qcow2");
    String uri = serve(server, img, false);
    same("info", uri);
    same("info", "--output=json", uri);
    same("map", "--output=json", uri);
    same("map", uri);
    same("check", uri);
    same("check", "--output=json", uri);
    same("measure", "-O", "raw", uri);
    Path local = dir.resolve("local.raw");
    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", img.toString(), local.toString());
    same("compare", uri, local.toString());
  }

  /** A sparse copy from an export: the same bytes as the source and the same allocation as qemu-img's copy. */
  @ParameterizedTest
  @EnumSource(Server.class)
  void convertFromAnExportKeepsHoles(Server server) throws IOException, InterruptedException {
    Path img = rawImage("r.img");
    String uri = serve(server, img, false);
    Path ours = dir.resolve("ours.raw");
    Path theirs = dir.resolve("theirs.raw");
    Vdisk.Result r = Vdisk.run("convert", "-O", "raw", uri, ours.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", uri, theirs.toString());
    assertThat(Files.mismatch(ours, img)).isEqualTo(-1);
    assertThat(PeerTools.check(dir, "qemu-img", "map", "--output=json", ours.toString()))
        .isEqualTo(PeerTools.check(dir, "qemu-img", "map", "--output=json", theirs.toString()));
    Path q = dir.resolve("ours.qcow2");
    assertThat(Vdisk.run("convert", "-O", "qcow2", uri, q.toString()).exit()).isZero();
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", q.toString(), img.toString()))
        .contains("identical");
  }

  /** {@code convert} into an export (raw and qcow2 onto it, and {@code -n}): what qemu-img reads back is the source. */
  @ParameterizedTest
  @EnumSource(Server.class)
  void convertToAnExport(Server server) throws IOException, InterruptedException {
    Path src = rawImage("src.img");
    Path target = dir.resolve("target.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", target.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0xee 0 8M", target.toString()); // old data
    String uri = serve(server, target, true);
    Vdisk.Result raw = Vdisk.run("convert", "-O", "raw", src.toString(), uri);
    assertThat(raw.exit()).as(raw.err()).isZero();
    assertThat(Files.mismatch(src, target)).as("the first 4 MiB are the source's").isEqualTo(4 << 20);
    assertThat(Files.size(target)).as("never truncated").isEqualTo(8 << 20);

    Vdisk.Result qcow2 = Vdisk.run("convert", "-O", "qcow2", src.toString(), uri);
    assertThat(qcow2.exit()).as(qcow2.err()).isZero();
    assertThat(PeerTools.check(dir, "qemu-img", "check", "-f", "qcow2", uri)).contains("No errors were found");
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "-F", "raw", uri, src.toString())).contains("identical");
    same("info", uri);
  }

  @Test
  void convertToNbdkitMemoryAndTheQemuSyntaxes() throws IOException, InterruptedException {
    PeerTools.require("nbdkit");
    Path src = rawImage("src.img");
    Path sock = dir.resolve("mem.sock");
    String uri = start(List.of("nbdkit", "-f", "-U", sock.toString(), "memory", "4M"), sock, "");
    Vdisk.Result r = Vdisk.run("convert", "-n", "-O", "raw", src.toString(), uri);
    assertThat(r.exit()).as(r.err()).isZero();
    same("compare", uri, src.toString());
    same("map", "--output=json", uri);
    String json = "json:{\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"" + sock + "\"}}}";
    same("info", json);
    same("map", "--output=json", json);
    String opts = "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=" + sock;
    same("info", "--image-opts", opts);
    same("compare", "--image-opts", opts, "driver=raw,file.driver=file,file.filename=" + src);
    same("map", "--output=json", "nbd:unix:" + sock);
  }

  @Test
  void refusedConnectionAndUnknownExportAreOneLine() throws IOException, InterruptedException {
    Vdisk.Result refused = Vdisk.run("info", "nbd+unix:///e?socket=" + dir.resolve("nobody.sock"));
    assertThat(refused.exit()).isEqualTo(1);
    assertThat(refused.errLines()).hasSize(1);
    assertThat(refused.err()).contains("Failed to connect to '" + dir.resolve("nobody.sock") + "'");
    Vdisk.Result tcp = Vdisk.run("map", "nbd://127.0.0.1:1/e");
    assertThat(tcp.exit()).isEqualTo(1);
    assertThat(tcp.err()).contains("Failed to connect to '127.0.0.1:1'").contains("Connection refused");
    assertThat(Vdisk.run("compare", "nbd://127.0.0.1:1/e", "nbd://127.0.0.1:1/f").exit()).as("compare: cannot open").isEqualTo(2);

    Path img = rawImage("r.img");
    String uri = serve(Server.QEMU_NBD, img, false);
    Vdisk.Result unknown = Vdisk.run("info", uri.replace("/e?", "/nope?"));
    assertThat(unknown.exit()).isEqualTo(1);
    assertThat(unknown.errLines()).hasSize(1);
    assertThat(unknown.err()).contains("no export 'nope'");
  }

  /** nbdkit answers each read after 2 s (all data: the pattern plugin) and is killed during the copy: the copy fails at once with one line. */
  @Test
  void serverDyingMidCopyIsOneLineAndNoHang() throws IOException, InterruptedException {
    PeerTools.require("nbdkit");
    Path sock = dir.resolve("slow.sock");
    String uri = start(List.of("nbdkit", "-f", "-U", sock.toString(), "--filter=delay", "pattern", "64M", "rdelay=2"), sock, "");
    Process copy = vdiskJar(Duration.ofSeconds(30), "convert", "-O", "raw", uri, dir.resolve("out.raw").toString());
    Thread.sleep(1500);
    servers.getLast().destroyForcibly();
    assertThat(copy.waitFor(20, TimeUnit.SECONDS)).as("the copy ends without waiting for its timeout").isTrue();
    assertThat(copy.exitValue()).isNotZero();
    String err = Files.readString(dir.resolve("jar.err"), StandardCharsets.UTF_8);
    assertThat(err.lines().filter(l -> !l.startsWith("vdisk: ")).toList()).as(err).hasSize(1);
    assertThat(err).contains(sock.toString());
  }

  /** A server that stops answering (SIGSTOP) is given up after VDISK_NBD_TIMEOUT seconds. */
  @Test
  void silentServerTimesOut() throws IOException, InterruptedException {
    Path img = rawImage("r.img");
    String uri = serve(Server.QEMU_NBD, img, false);
    long pid = servers.getLast().pid();
    PeerTools.check(dir, "kill", "-STOP", Long.toString(pid));
    try {
      Process info = vdiskJar(Duration.ofSeconds(2), "info", uri);
      assertThat(info.waitFor(30, TimeUnit.SECONDS)).as("bounded by the timeout").isTrue();
      assertThat(info.exitValue()).isEqualTo(1);
      assertThat(Files.readString(dir.resolve("jar.err"), StandardCharsets.UTF_8)).contains("no answer").contains("within 2 s");
    } finally {
      PeerTools.check(dir, "kill", "-CONT", Long.toString(pid));
    }
  }

  private Process vdiskJar(Duration timeout, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(dir.resolve("jar.out").toFile())
        .redirectError(dir.resolve("jar.err").toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    pb.environment().put(ImageOptions.NBD_TIMEOUT_ENV, Long.toString(timeout.toSeconds()));
    return pb.start();
  }
}
