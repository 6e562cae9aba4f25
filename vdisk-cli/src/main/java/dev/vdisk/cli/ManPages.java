package dev.vdisk.cli;

import java.io.File;
import java.io.IOException;
import picocli.codegen.docgen.manpage.ManPageGenerator;

/**
 * Writes one AsciiDoc man page per command (vdisk, vdisk-info, vdisk-convert, ...) from the picocli model with
 * picocli's {@link ManPageGenerator}; the build turns them into roff (Asciidoctor's manpage backend). Run by the
 * build only: picocli-codegen is a build-time ({@code provided}) dependency, not in vdisk.jar.
 */
public final class ManPages {
  private ManPages() {}

  /** {@code args[0]}: the folder for the AsciiDoc files. */
  public static void main(String[] args) throws IOException {
    int status = ManPageGenerator.generateManPage(new File(args[0]), null, new boolean[0], true,
        Main.fullModel().getCommandSpec());
    if (status != 0) {
      throw new IOException("man pages: picocli's generator exited " + status);
    }
  }
}
