package dev.vdisk.cli;

import java.io.StringWriter;

/** Runs {@link Main} in-process, capturing what it prints. */
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
}
