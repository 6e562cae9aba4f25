package dev.vdisk.testkit;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/** Peer programs (qemu-img, qemu-io, nbdinfo, ...) that interop tests run. */
public final class Peers {
  private Peers() {}

  /**
   * Skips the calling test, with the reason shown, when {@code tool} is not on the PATH; fails it instead when
   * the environment says {@code CI=true}, where every peer must be installed.
   */
  public static void require(String tool) {
    String path = System.getenv().getOrDefault("PATH", "");
    for (String dir : path.split(File.pathSeparator)) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
        return;
      }
    }
    String reason = tool + ": not found on PATH (expected: installed; .ci/run installs the peers)";
    if ("true".equals(System.getenv("CI"))) {
      Assertions.fail(reason);
    }
    Assumptions.abort(reason);
  }
}
