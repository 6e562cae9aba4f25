package dev.vdisk.cli;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import dev.vdisk.testkit.Peers;

/**
 * The real QEMU tools that interop tests compare vdisk with. A missing tool skips the test with a visible
 * reason on a developer's machine, and fails it on CI (environment variable {@code CI=true}), where the
 * tools are part of the environment and a skip would hide a broken setup.
 */
final class PeerTools {
  private PeerTools() {}

  /** {@link Peers#require} for a tool on the PATH; a tool given as a path needs only to be executable. */
  static void require(String tool) {
    if (!tool.contains(File.separator) || !Files.isExecutable(Path.of(tool))) {
      Peers.require(tool);
    }
  }

  /** The outcome of a peer run. */
  record Result(int exit, String out, String err) {}

  /** Runs {@code command} in {@code dir} and waits for it (at most a minute: peers here finish in milliseconds). */
  static Result run(Path dir, String... command) throws IOException, InterruptedException {
    require(command[0]);
    Path out = Files.createTempFile(dir, "peer", ".out");
    Path err = Files.createTempFile(dir, "peer", ".err");
    try {
      Process p = new ProcessBuilder(List.of(command)).directory(dir.toFile())
          .redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .start();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        fail(String.join(" ", command) + ": still running after 60 s");
      }
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  /** Runs {@code command} and returns its stdout, failing the test if it exits non-zero. */
  static String check(Path dir, String... command) throws IOException, InterruptedException {
    Result r = run(dir, command);
    if (r.exit() != 0) {
      fail(String.join(" ", command) + ": exit " + r.exit() + "\n" + r.out() + r.err());
    }
    return r.out();
  }

  /**
   * {@link #check} for a client of a server just started: a server's socket file exists from bind(2), a moment before
   * listen(2), so a refused connection is tried again (for 5 s at most).
   */
  static String checkConnecting(Path dir, String... command) throws IOException, InterruptedException {
    Result r = run(dir, command);
    for (int i = 0; i < 50 && r.exit() != 0 && r.err().contains("Connection refused"); i++) {
      Thread.sleep(100);
      r = run(dir, command);
    }
    if (r.exit() != 0) {
      fail(String.join(" ", command) + ": exit " + r.exit() + "\n" + r.out() + r.err());
    }
    return r.out();
  }
}
