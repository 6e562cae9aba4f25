package dev.vdisk.cli;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs {@link Main} in-process, capturing what it prints; or the jar as a process of its own. */
final class Vdisk {
  private Vdisk() {}

  /** Exit status, standard output and standard error of one run. */
  record Result(int exit, String out, String err) {
    /** The lines printed on stderr. */
    String[] errLines() {
      return err.isEmpty() ? new String[0] : err.split("\n");
    }
  }

  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = Main.run(out, err, args);
    return new Result(exit, out.toString(), err.toString());
  }

  /**
   * Runs the jar ({@code target/vdisk.jar}) as a process of its own with {@code dir} as its current directory: for
   * what depends on the current directory (a relative data file name) or on the command's own JVM (the notices it
   * prints on stderr), which a run in-process does not show.
   */
  static PeerTools.Result runIn(Path dir, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(AotCaches.JAVA, "--enable-native-access=ALL-UNNAMED", "-jar",
        AotCaches.JAR.toString()));
    cmd.addAll(List.of(args));
    return PeerTools.run(dir, cmd.toArray(String[]::new));
  }
}
