package dev.vdisk.cli;

import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Files written whole or not at all, for readers that may look at any moment (a pid file, a domain XML). */
final class AtomicFiles {
  private AtomicFiles() {}

  /**
   * Writes {@code text} to a sibling temporary file and renames it over {@code file}: a reader sees the old file or
   * the whole new one, never an empty or half-written one.
   */
  static void writeString(Path file, String text, Charset charset) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text, charset);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
