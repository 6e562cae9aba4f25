package dev.vdisk.cli;

import dev.vdisk.format.FormatRegistry;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that opens an existing image shares: {@code -f fmt} and {@code -U}, and the opening itself. */
final class ImageOptions {
  @Option(names = "-f", paramLabel = "FMT", description = "Image format; probed when absent (raw unless a signature says otherwise).")
  String format;

  @Option(names = "-U", description = "Open even if another process holds the image (read-only opens only).")
  boolean forceShare;

  /**
   * Opens {@code file} after checking the arguments, and prints QEMU's warning when a probe guessed raw
   * for a writable open (where qemu-img and qemu-io print it).
   */
  OpenImage open(String file, CacheMode cache, boolean readOnly, PrintWriter err) throws IOException {
    if (format != null) {
      FormatRegistry.byName(format);
    }
    FileOptions options = new FileOptions(cache, readOnly, forceShare, true);
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new CliException(file + ": no such file (expected: an existing image file)");
    }
    if (Files.isDirectory(path)) {
      throw new CliException(file + ": is a directory (expected: an image file)");
    }
    OpenImage image = Images.open(path, format, options);
    if (image.probed() && image.format().name().equals("raw") && !readOnly) {
      err.println("WARNING: Image format was not specified for '" + file + "' and probing guessed raw.");
      err.println("         Automatically detecting the format is dangerous for raw images, "
          + "write operations on block 0 will be restricted.");
      err.println("         Specify the 'raw' format explicitly to remove the restrictions.");
      err.flush();
    }
    return image;
  }
}
