package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vdisk serve} of a LUKS encrypted qcow2 image qemu-io wrote, with its key ({@code --object secret}
 * and {@code encrypt.key-secret=ID} in {@code --image-opts} as qemu-nbd takes them, or in {@code --export}): nbdcopy and
 * qemu-img convert over NBD read qemu-img convert's plaintext, nbdinfo --map is qemu-nbd's; served writable, what
 * qemu-io writes over NBD reads back as qemu-io's own writes into a copy.
 */
class EncryptedServeInteropIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    for (String tool : List.of("qemu-img", "qemu-io", "qemu-nbd", "nbdcopy", "nbdinfo")) {
      PeerTools.require(tool);
    }
  }

  private Path written() throws Exception {
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "16M", "");
    EncryptedPeers.qemuIo(dir, image, "write -P 7 0 1M", "write -P 9 3M 4k", "write -P 10 3076k 512",
        "write -z 512k 64k", "write -P 11 15M 1M");
    return image;
  }

  /** Starts {@code server} (qemu-nbd or vdisk serve, with {@code args}) on {@code sock} and waits for its socket. */
  private Process start(List<String> server, Path sock, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(server);
    cmd.addAll(List.of("-t", "-k", sock.toString()));
    cmd.addAll(List.of(args));
    Path log = dir.resolve(sock.getFileName() + ".log");
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
    for (int i = 0; i < 1200 && !Files.exists(sock) && p.isAlive(); i++) {
      Thread.sleep(50);
    }
    assertThat(sock).as(String.join(" ", cmd) + ": " + Files.readString(log)).exists();
    return p;
  }

  private static List<String> vdisk() {
    return List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve");
  }

  private static void stop(Process p) throws InterruptedException {
    p.destroy();
    p.waitFor(30, TimeUnit.SECONDS);
  }

  private String map(Path sock) throws IOException, InterruptedException {
    return PeerTools.check(dir, "nbdinfo", "--map", "nbd+unix:///?socket=" + sock);
  }

  @Test
  void servesThePlaintextReadOnly() throws Exception {
    Path image = written();
    byte[] before = Files.readAllBytes(image);
    Path theirs = dir.resolve("theirs.raw");
    PeerTools.check(dir, "qemu-img", "convert", "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(image), "-O", "raw", theirs.toString());
    Path qsock = dir.resolve("q.sock");
    Process q = start(List.of("qemu-nbd"), qsock, "-r", "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(image));
    String qemuMap;
    try {
      qemuMap = map(qsock);
    } finally {
      stop(q);
    }
    String[][] ways = {{"-r", "--object", EncryptedPeers.SECRET, "--image-opts", EncryptedPeers.imageOpts(image)},
        {"--object", EncryptedPeers.SECRET, "--export", "file=" + image + ",read-only,encrypt.key-secret=sec0"}};
    for (String[] way : ways) {
      Path sock = dir.resolve("v" + way.length + ".sock");
      Process v = start(vdisk(), sock, way);
      try {
        String how = String.join(" ", way);
        Path copy = dir.resolve("nbdcopy" + way.length + ".raw");
        PeerTools.check(dir, "nbdcopy", "nbd+unix:///?socket=" + sock, copy.toString());
        assertThat(Files.mismatch(copy, theirs)).as("nbdcopy from vdisk serve " + how).isEqualTo(-1);
        Path converted = dir.resolve("convert" + way.length + ".raw");
        PeerTools.check(dir, "qemu-img", "convert", "-f", "raw", "nbd+unix:///?socket=" + sock, "-O", "raw",
            converted.toString());
        assertThat(Files.mismatch(converted, theirs)).as("qemu-img convert from vdisk serve " + how).isEqualTo(-1);
        assertThat(map(sock)).as("nbdinfo --map of vdisk serve " + how).isEqualTo(qemuMap);
      } finally {
        stop(v);
      }
    }
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
  }

  /**
   * Served writable (no {@code -r}), writes over NBD land encrypted: the image reads as a copy qemu-io wrote the same
   * bytes into, and qemu-img check finds it clean. A missing secret is QEMU's line.
   */
  @Test
  void servesItWritable() throws Exception {
    Path image = written();
    Path copy = dir.resolve("copy.qcow2");
    Files.copy(image, copy);
    String[] writes = {"write -P 31 100000 300000", "write -z 5M 1M", "write -P 32 12345 1", "write -P 33 14M 4k"};
    Path sock = dir.resolve("w.sock");
    Process v = start(vdisk(), sock, "--object", EncryptedPeers.SECRET, "--image-opts", EncryptedPeers.imageOpts(image));
    try {
      List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
      for (String w : writes) {
        cmd.addAll(List.of("-c", w));
      }
      cmd.add("nbd+unix:///?socket=" + sock);
      PeerTools.check(dir, cmd.toArray(String[]::new));
    } finally {
      stop(v);
    }
    EncryptedPeers.qemuIo(dir, copy, writes);
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(image), EncryptedPeers.imageOpts(copy))).isEqualTo("Images are identical.\n");
    assertThat(PeerTools.check(dir, "qemu-img", "check", "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(image))).startsWith("No errors were found on the image.");
    Vdisk.Result missing = Vdisk.run("serve", "-t", "-k", dir.resolve("m.sock").toString(), "--export",
        "file=" + image + ",read-only,encrypt.key-secret=sec0");
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.err()).contains("No secret with id 'sec0'");
  }
}
