package dev.vdisk.testkit;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * The real tools (qemu-img, qemu-io, nbdinfo, fio) that integration tests compare vdisk against.
 *
 * <p>A missing tool skips the test with the reason shown, except on CI ({@code CI=true}), where a missing
 * peer means the test environment is broken and the test fails.
 */
public final class Peers {
  private Peers() {}

  /** Skips (or, on CI, fails) the calling test unless {@code tool} is an executable on the PATH. */
  public static void require(String tool) {
    requireThat(onPath(tool), tool + " not found on PATH (install it to run this comparison against the real peer)");
  }

  /**
   * Skips (or, on CI, fails) the calling test unless {@code available}: for what CI's machine provides and a
   * developer's may not (a tool, the right to mount a file system).
   */
  public static void requireThat(boolean available, String reason) {
    if (available) {
      return;
    }
    if ("true".equals(System.getenv("CI"))) {
      fail(reason + "; CI=true, where it must be available, so this is a failure");
    }
    Assumptions.abort(reason);
  }

  /**
   * True if {@code tool} is on the PATH, for a test that runs without it and lets it judge where it is (the crash
   * tests and qemu-img check). On CI ({@code CI=true}), where every peer must be, a missing one fails the calling test.
   */
  public static boolean judge(String tool) {
    boolean here = onPath(tool);
    if (!here && "true".equals(System.getenv("CI"))) {
      fail(tool + " not found on PATH; CI=true, where it must be available to judge this test's results, so this is a "
          + "failure");
    }
    return here;
  }

  /** True if {@code tool} is an executable on the PATH: for tests that use a peer where there is one. */
  public static boolean available(String tool) {
    return onPath(tool);
  }

  private static boolean onPath(String tool) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(File.pathSeparator)) {
      Path candidate = Path.of(dir.isEmpty() ? "." : dir, tool);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return true;
      }
    }
    return false;
  }
}
