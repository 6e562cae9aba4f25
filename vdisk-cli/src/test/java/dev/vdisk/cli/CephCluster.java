package dev.vdisk.cli;

import static org.junit.jupiter.api.Assertions.fail;

import dev.vdisk.testkit.Peers;
import java.io.File;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A real single-node Ceph cluster for one test class, started and stopped with the project's
 * {@code scripts/ceph-cluster.sh} in a fresh folder on a free loopback port. Without {@code ceph-mon} the calling
 * test is skipped with the reason (failed under {@code CI=true}, where .ci/run installs Ceph).
 *
 * <p>With {@value #REUSE_ENV} set to the folder of a cluster that {@code scripts/ceph-cluster.sh start} made and that
 * is still running, the tests use that one instead and leave it running (for repeated runs while developing; the
 * last test of {@code RbdInteropIT} kills its OSD and starts it again).
 *
 * @param dir the cluster's folder (keys, data, logs, pid files)
 * @param conf its ceph.conf
 * @param owned whether this run started the cluster (and so stops it)
 */
record CephCluster(Path dir, Path conf, boolean owned) {
  /** Environment variable: the folder of a running cluster to use instead of starting one. */
  static final String REUSE_ENV = "VDISK_TEST_CEPH_DIR";
  private static final Path SCRIPT = Path.of("..", "scripts", "ceph-cluster.sh");

  /** Starts a cluster (about 16 s here); skips or fails the caller when Ceph is not installed. */
  static CephCluster start() throws IOException, InterruptedException {
    for (String tool : List.of("ceph-mon", "ceph-osd", "ceph-mgr", "rbd", "qemu-img")) {
      Peers.require(tool);
    }
    Peers.requireThat(Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so"))
        || Files.exists(Path.of("/usr/lib/aarch64-linux-gnu/qemu/block-rbd.so")),
        "QEMU's rbd driver (block-rbd.so, Debian package qemu-block-extra) not installed");
    String reuse = System.getenv(REUSE_ENV);
    if (reuse != null && !reuse.isBlank()) {
      Path dir = Path.of(reuse).toAbsolutePath();
      if (!Files.isRegularFile(dir.resolve("ceph.conf"))) {
        fail(REUSE_ENV + "=" + reuse + ": no ceph.conf there (expected: the folder of scripts/ceph-cluster.sh start)");
      }
      return new CephCluster(dir, dir.resolve("ceph.conf"), false);
    }
    Path dir = Files.createTempDirectory("vdisk-ceph").resolve("cluster");
    String out;
    try {
      out = script("start", dir.toString(), String.valueOf(freePort()));
    } catch (AssertionError first) {
      // A daemon that fails to start on a loaded machine (seen once in a CI rehearsal: ceph-mon exited at once,
      // nothing logged) gets one more try on another port; the first failure stays in the test output.
      System.err.println("ceph-cluster.sh start failed once, trying again on another port: " + first.getMessage());
      out = script("start", dir.toString(), String.valueOf(freePort()));
    }
    String[] lines = out.strip().split("\n");
    return new CephCluster(dir, Path.of(lines[lines.length - 1]), true);
  }

  /** Stops every daemon and removes the folder, if this run started the cluster. */
  void stop() throws IOException, InterruptedException {
    if (owned) {
      script("stop", dir.toString());
      Files.deleteIfExists(dir.getParent());
    }
  }

  /** {@code rbd:pool/image:conf=...} for {@code pool/image} on this cluster, with further {@code :key=value} options. */
  String name(String poolAndImage, String... options) {
    return "rbd:" + poolAndImage + ":conf=" + conf + (options.length == 0 ? "" : ":" + String.join(":", options));
  }

  /** Runs {@code rbd --conf CONF args...} and returns its stdout, failing the test on a non-zero exit. */
  String rbd(Path cwd, String... args) throws IOException, InterruptedException {
    String[] command = new String[args.length + 3];
    command[0] = "rbd";
    command[1] = "--conf";
    command[2] = conf.toString();
    System.arraycopy(args, 0, command, 3, args.length);
    return PeerTools.check(cwd, command);
  }

  /** The pid of a daemon, {@code osd.0}, {@code mon.a} or {@code mgr.x}. */
  long pid(String daemon) throws IOException {
    return Long.parseLong(Files.readString(dir.resolve("run").resolve(daemon + ".pid")).strip());
  }

  private static String script(String... args) throws IOException, InterruptedException {
    Path log = Files.createTempFile("ceph-cluster", ".log");
    try {
      String[] command = new String[args.length + 1];
      command[0] = SCRIPT.toString();
      System.arraycopy(args, 0, command, 1, args.length);
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
      if (!p.waitFor(180, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        fail("ceph-cluster.sh " + String.join(" ", args) + ": still running after 180 s");
      }
      String out = Files.readString(log, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        fail("ceph-cluster.sh " + String.join(" ", args) + ": exit " + p.exitValue() + "\n" + out);
      }
      return out;
    } finally {
      Files.deleteIfExists(log);
    }
  }

  /**
   * A free loopback port below Linux's ephemeral range (32768-60999), so that no client socket of a test running
   * meanwhile is given it as its local port before the monitor binds it.
   */
  private static int freePort() throws IOException {
    for (int attempt = 0; attempt < 100; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(20000, 32000);
      try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        return s.getLocalPort();
      } catch (BindException inUse) {
        // try another
      }
    }
    throw new IOException("no free loopback port in 20000-31999 after 100 tries");
  }
}
