package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.format.FormatRegistry;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.ImageUser;
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
    return open(file, cache, readOnly, ImageUser.TOOL, err);
  }

  /** {@link #open}, locking the image with {@code user}'s permissions (as qemu-nbd, qemu-img resize or convert). */
  OpenImage open(String file, CacheMode cache, boolean readOnly, ImageUser user, PrintWriter err) throws IOException {
    return open(file, cache, Aio.DEFAULT, readOnly, user, err);
  }

  /** {@link #open}, with the aio mode {@code aio}. */
  OpenImage open(String file, CacheMode cache, Aio aio, boolean readOnly, ImageUser user, PrintWriter err)
      throws IOException {
    FileOptions options = new FileOptions(cache, readOnly, forceShare, true, user, aio);
    OpenImage image = Images.open(checkedPath(file), format, options);
    warnIfProbedRaw(file, image.probed(), image.format().name(), readOnly, err);
    return image;
  }

  /**
   * Opens {@code file} read-only through the library's front door: the image with its typed facts and chain, with
   * its backing images or (qemu-img info's open) without them.
   */
  Image openImage(String file, boolean backing) throws IOException {
    return Vdisk.open(checkedPath(file),
        OpenOptions.builder().format(format).readOnly(true).forceShare(forceShare).backing(backing).build());
  }

  /** The options for {@link Vdisk#check}: {@code -f} and {@code -U}. */
  OpenOptions checkOptions() {
    checkedFormat();
    return OpenOptions.builder().format(format).readOnly(true).forceShare(forceShare).build();
  }

  private static void warnIfProbedRaw(String file, boolean probed, String format, boolean readOnly, PrintWriter err) {
    if (probed && format.equals("raw") && !readOnly) {
      err.println("WARNING: Image format was not specified for '" + file + "' and probing guessed raw.");
      err.println("         Automatically detecting the format is dangerous for raw images, "
          + "write operations on block 0 will be restricted.");
      err.println("         Specify the 'raw' format explicitly to remove the restrictions.");
      err.flush();
    }
  }

  /** {@code file} as a path, after checking {@code -f} and that the file exists and is not a directory. */
  Path checkedPath(String file) {
    checkedFormat();
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new CliException(file + ": no such file (expected: an existing image file)");
    }
    if (Files.isDirectory(path)) {
      throw new CliException(file + ": is a directory (expected: an image file)");
    }
    return path;
  }

  private void checkedFormat() {
    if (format != null) {
      FormatRegistry.byName(format);
    }
  }
}
