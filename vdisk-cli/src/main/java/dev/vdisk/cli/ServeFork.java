package dev.vdisk.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code vdisk serve --fork}: qemu-nbd's promise that when the command returns the server is listening (its
 * socket exists, its pid file is written) and runs on in the background. A JVM cannot {@code fork()} safely, so
 * the parent starts the same command line again without {@code --fork}, relays the child's standard error until
 * the child closes it (which the child does once it listens: {@link #childReady}), and exits 0 then, or with the
 * child's status if the child died first (a bad option, a busy address: its error line has been relayed).
 */
final class ServeFork {
  /** Set in the child's environment, so it knows to let go of the parent's pipe once it listens. */
  private static final String CHILD = "VDISK_SERVE_FORKED";

  private ServeFork() {}

  /** Whether this process is the background child of a {@code --fork}. */
  static boolean isChild() {
    return System.getenv(CHILD) != null;
  }

  /**
   * The parent's side: starts the child, relays its error lines to {@code err} and returns the status to exit
   * with.
   */
  static int runParent(PrintWriter err) throws IOException, InterruptedException {
    ProcessHandle.Info info = ProcessHandle.current().info();
    if (info.command().isEmpty() || info.arguments().isEmpty()) {
      throw new CliException("--fork: this process's command line cannot be read (expected: /proc mounted)");
    }
    List<String> cmd = new ArrayList<>();
    cmd.add(info.command().get());
    for (String a : info.arguments().get()) {
      if (!a.equals("--fork")) {
        cmd.add(a);
      }
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put(CHILD, "1");
    Process child = pb.start();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getErrorStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        err.println(line);
      }
    }
    err.flush();
    // EOF: either the child listens and closed its stderr, or it died; give a dying child a moment to be reaped.
    if (child.waitFor(200, java.util.concurrent.TimeUnit.MILLISECONDS)) {
      return child.exitValue();
    }
    return 0;
  }

  /** The child's side, once it listens: closes standard error so the parent returns (later log lines are dropped). */
  static void childReady(PrintWriter err) {
    err.flush();
    System.err.close();
  }
}
