package dev.vdisk.cli;

import dev.vdisk.format.FormatRegistry;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
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
    return open(file, cache, readOnly, user, err, true);
  }

  /** Opens {@code file} read-only without its backing image, as qemu-img info does. */
  OpenImage openWithoutBacking(String file, PrintWriter err) throws IOException {
    return open(file, CacheMode.WRITEBACK, true, ImageUser.TOOL, err, false);
  }

  private OpenImage open(String file, CacheMode cache, boolean readOnly, ImageUser user, PrintWriter err,
      boolean backing) throws IOException {
    FileOptions options = new FileOptions(cache, readOnly, forceShare, true, user);
    Path path = checkedPath(file);
    OpenImage image = backing ? Images.open(path, format, options) : Images.openWithoutBacking(path, format, options);
    if (image.probed() && image.format().name().equals("raw") && !readOnly) {
      err.println("WARNING: Image format was not specified for '" + file + "' and probing guessed raw.");
      err.println("         Automatically detecting the format is dangerous for raw images, "
          + "write operations on block 0 will be restricted.");
      err.println("         Specify the 'raw' format explicitly to remove the restrictions.");
      err.flush();
    }
    return image;
  }

  /**
   * Opens only the file of the image {@code file}, for commands that read an image's metadata themselves (check;
   * {@code writable} and locked for check -r); {@link #format()} then names its format.
   */
  FileDevice openFile(String file, CacheMode cache, boolean writable) throws IOException {
    return FileDevice.open(checkedPath(file), new FileOptions(cache, !writable, forceShare, true));
  }

  /** The format given with {@code -f}, or the one probed from {@code file}'s first bytes. */
  ImageFormat format(FileDevice file) throws IOException {
    return format != null ? FormatRegistry.byName(format) : Images.probe(file);
  }

  /** {@code file} as a path, after checking {@code -f} and that the file exists and is not a directory. */
  private Path checkedPath(String file) {
    if (format != null) {
      FormatRegistry.byName(format);
    }
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new CliException(file + ": no such file (expected: an existing image file)");
    }
    if (Files.isDirectory(path)) {
      throw new CliException(file + ": is a directory (expected: an image file)");
    }
    return path;
  }
}
