package dev.vdisk.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/** Runs qemu-img and qemu-io in a directory, failing with their output when they fail. */
public final class Qemu {
  private static final long TIMEOUT_SECONDS = 60;

  private Qemu() {}

  /** Skips (or on CI fails) the calling test unless both tools are installed. */
  public static void require() {
    Peers.require("qemu-img");
    Peers.require("qemu-io");
  }

  /**
   * True if qemu-img is here to judge a test that runs without it (vdisk makes its images); on CI a missing qemu-img
   * fails the test ({@link Peers#judge}). Callers say in their report when it was missing.
   */
  public static boolean judges() {
    return Peers.judge("qemu-img");
  }

  /** {@code qemu-img args...} run in {@code dir}; returns stdout. */
  public static String img(Path dir, String... args) throws IOException, InterruptedException {
    return run(dir, Set.of(), "qemu-img", args);
  }

  /** {@code qemu-img args...}, which may also exit with {@code alsoOk} (qemu-img check's 3 for leaks, say). */
  public static String imgAllowingExit(Path dir, int alsoOk, String... args) throws IOException, InterruptedException {
    return run(dir, Set.of(alsoOk), "qemu-img", args);
  }

  /** {@code qemu-img check --output=json image}, which exits 0, 2 (corruptions) or 3 (leaks); its output. */
  public static String checkJson(Path dir, String image) throws IOException, InterruptedException {
    return run(dir, Set.of(2, 3), "qemu-img", "check", "--output=json", image);
  }

  /** {@code qemu-io -f qcow2 -c cmd1 -c cmd2 ... image} run in {@code dir}. */
  public static void io(Path dir, String image, String... commands) throws IOException, InterruptedException {
    ioAs(dir, "qcow2", image, commands);
  }

  /** {@code qemu-io -f format -c cmd1 -c cmd2 ... image} run in {@code dir}; fails if a command reported an error. */
  public static void ioAs(Path dir, String format, String image, String... commands) throws IOException, InterruptedException {
    List<String> args = new ArrayList<>(List.of("-f", format));
    for (String c : commands) {
      args.add("-c");
      args.add(c);
    }
    args.add(image);
    String out = run(dir, Set.of(), "qemu-io", args.toArray(String[]::new));
    // qemu-io reports failed commands on its output but still exits 0.
    if (out.contains("error") || out.contains("failed")) {
      throw new IOException("qemu-io " + args + ": " + out);
    }
  }

  /** {@code tool args...} (another QEMU or libnbd tool: qemu-nbd, nbdinfo) run in {@code dir}; returns its output. */
  public static String tool(Path dir, String tool, String... args) throws IOException, InterruptedException {
    return run(dir, Set.of(), tool, args);
  }

  /** {@link #tool}, which may also exit with {@code alsoOk} (qemu-io's 1 for a failed command, say). */
  public static String toolAllowingExit(Path dir, int alsoOk, String tool, String... args)
      throws IOException, InterruptedException {
    return run(dir, Set.of(alsoOk), tool, args);
  }

  private static String run(Path dir, Set<Integer> alsoOk, String tool, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(tool);
    cmd.addAll(List.of(args));
    Process p = SpawnGuard.start(new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true));
    p.getOutputStream().close();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(cmd + ": timed out");
    }
    String text = new String(out, StandardCharsets.UTF_8);
    if (p.exitValue() != 0 && !alsoOk.contains(p.exitValue())) {
      throw new IOException(cmd + " exited " + p.exitValue() + ": " + text);
    }
    return text;
  }
}
