package dev.vdisk.cli;

import static dev.vdisk.testkit.HostLocks.lockedBytes;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.Image;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 13, fault 9: vdisk takes exactly the lock bytes QEMU 7.2's tools take (seen in {@code /proc/locks}), for
 * raw and qcow2, read-only and writable: {@code vdisk serve} as {@code qemu-nbd}, {@code vdisk io} (and the other
 * commands that open as a tool) as {@code qemu-io}. So each lets the other in, or keeps it out, as QEMU does with
 * itself: raw images share write permission, qcow2 images do not.
 */
class ImageLockInteropIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  @BeforeEach
  void peers() {
    for (String tool : List.of("qemu-img", "qemu-io", "qemu-nbd", "nbdinfo")) {
      PeerTools.require(tool);
    }
  }

  private Path image(String format) throws IOException, InterruptedException {
    Path p = dir.resolve("img." + format);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", format, p.toString(), "1M");
    return p;
  }

  /** Waits until someone holds locks on {@code file}, then returns them. */
  private static SortedSet<Long> awaitLocks(Path file) throws IOException, InterruptedException {
    for (int i = 0; i < 300; i++) {
      SortedSet<Long> held = lockedBytes(file);
      if (!held.isEmpty()) {
        Thread.sleep(100); // the last bytes of the set
        return lockedBytes(file);
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no locks on " + file + " within 15 s");
  }

  private Process qemuNbd(Path image, String format, boolean readOnly) throws IOException {
    return start(List.of("qemu-nbd", "-t", "-k", dir.resolve("qemu.sock").toString()), image, format, readOnly);
  }

  private Process vdiskServe(Path image, String format, boolean readOnly) throws IOException {
    return start(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve", "-t", "-k",
        dir.resolve("vdisk.sock").toString()), image, format, readOnly);
  }

  /** {@code command -f format [-r] image}, its output in a log beside the image (qemu-io waits on its input). */
  private Process start(List<String> command, Path image, String format, boolean readOnly) throws IOException {
    List<String> cmd = new ArrayList<>(command);
    cmd.addAll(List.of("-f", format));
    if (readOnly) {
      cmd.add("-r");
    }
    cmd.add(image.toString());
    return new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve(Path.of(command.getFirst()).getFileName() + ".log").toFile()).start();
  }

  /** The bytes {@code peer} locks on {@code image}, once it holds them; then the peer is stopped. */
  private static SortedSet<Long> locksOf(Process peer, Path image) throws IOException, InterruptedException {
    try {
      return awaitLocks(image);
    } finally {
      stop(peer);
    }
  }

  private static void stop(Process p) throws InterruptedException {
    p.destroy();
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
    }
  }

  @ParameterizedTest(name = "{0}, read-only {1}")
  @CsvSource({"raw, true", "raw, false", "qcow2, true", "qcow2, false"})
  void serveLocksTheBytesQemuNbdLocks(String format, boolean readOnly) throws Exception {
    Path img = image(format);
    SortedSet<Long> theirs = locksOf(qemuNbd(img, format, readOnly), img);
    assertThat(locksOf(vdiskServe(img, format, readOnly), img)).as("vdisk serve's lock bytes, qemu-nbd's")
        .isEqualTo(theirs);
  }

  @ParameterizedTest(name = "{0}, read-only {1}")
  @CsvSource({"raw, true", "raw, false", "qcow2, true", "qcow2, false"})
  void ioLocksTheBytesQemuIoLocks(String format, boolean readOnly) throws Exception {
    Path img = image(format);
    SortedSet<Long> theirs = locksOf(start(List.of("qemu-io"), img, format, readOnly), img);
    ImageOptions options = new ImageOptions();
    options.format = format;
    try (Image ours = options.open(img.toString(), CacheMode.WRITEBACK, readOnly, new PrintWriter(new StringWriter()))) {
      assertThat(lockedBytes(img)).as("vdisk io's lock bytes, qemu-io's").isEqualTo(theirs);
    }
  }

  /**
   * Both directions on a raw image, as the issue found them: while qemu-nbd serves it (writable), vdisk info, io -r
   * and serve -r open it; while vdisk serves it, qemu-io writes it, and qemu-img resize is refused as qemu-nbd
   * refuses it.
   */
  @Test
  void rawImagesShareWritesBothWays() throws Exception {
    Path img = image("raw");
    Process qemu = qemuNbd(img, "raw", false);
    try {
      awaitLocks(img);
      for (String[] args : List.of(new String[] {"info", img.toString()},
          new String[] {"io", "-r", "-f", "raw", "-c", "read 0 512", img.toString()})) {
        Vdisk.Result r = Vdisk.run(args);
        assertThat(r.exit()).as("vdisk " + String.join(" ", args) + ": " + r.err()).isZero();
      }
      Process reader = vdiskServe(img, "raw", true);
      try {
        for (int i = 0; i < 300 && !Files.exists(dir.resolve("vdisk.sock")); i++) {
          Thread.sleep(50);
        }
        String uri = "nbd+unix:///?socket=" + dir.resolve("vdisk.sock");
        assertThat(PeerTools.checkConnecting(dir, "nbdinfo", "--size", uri))
            .as("vdisk serve -r beside qemu-nbd").isEqualTo("1048576\n");
      } finally {
        stop(reader);
      }
    } finally {
      stop(qemu);
    }
    Process vdisk = vdiskServe(img, "raw", false);
    try {
      awaitLocks(img);
      PeerTools.Result write = PeerTools.run(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 4k", img.toString());
      assertThat(write.exit()).as(write.out() + write.err()).isZero();
      assertThat(write.out() + write.err()).doesNotContain("lock");
      PeerTools.Result resize = PeerTools.run(dir, "qemu-img", "resize", "-f", "raw", img.toString(), "2M");
      assertThat(resize.exit()).as(resize.out() + resize.err()).isNotZero();
      assertThat(resize.err()).contains("Failed to get \"resize\" lock");
    } finally {
      stop(vdisk);
    }
  }
}
