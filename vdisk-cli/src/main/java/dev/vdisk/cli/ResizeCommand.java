package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.ImageUser;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk resize [-f fmt] [--shrink] [--preallocation=MODE] [-q] FILE [+|-]SIZE}: qemu-img resize. Growing needs
 * nothing more ({@code --preallocation=falloc|full} reserves or zero-writes what the image gains, {@code metadata}
 * maps a qcow2 image's grown clusters, as qemu-img does);
 * shrinking needs {@code --shrink}, as in qemu-img (qcow2: what lies past the new end is dropped and the file cut
 * as qemu-img does; images with internal snapshots are refused). Prints {@code Image resized.} on success.
 */
@Command(name = "resize", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk resize disk.qcow2 +10G", "  vdisk resize --shrink disk.raw 8G"},
    description = "Change an image's virtual size.")
final class ResizeCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Option(names = "--shrink", description = "Allow the image to shrink (what lies past the new end is lost).")
  boolean shrink;

  @Option(names = "--preallocation", paramLabel = "MODE", description = "How the grown part is allocated: off (default),"
      + " metadata (qcow2), falloc or full.")
  String preallocation;

  @Option(names = "-q", description = "Quiet: print nothing on success.")
  boolean quiet;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Parameters(index = "1", paramLabel = "SIZE", description = "The new size, or +N / -N relative to the current one.")
  String size;

  @Override
  public Integer call() throws IOException {
    Preallocation mode = preallocation == null ? Preallocation.OFF : parse(preallocation);
    char sign = size.isEmpty() ? 0 : size.charAt(0);
    long amount = Sizes.parse("size", sign == '+' || sign == '-' ? size.substring(1) : size);
    try (Image img = image.open(file, CacheMode.WRITEBACK, false, ImageUser.RESIZER, main.err())) {
      long current = img.size();
      long target = switch (sign) {
        case '+' -> Math.addExact(current, amount);
        case '-' -> current - amount;
        default -> amount;
      };
      if (target < 0) {
        throw new CliException("size: " + size + " (expected: a result of at least 0 from the current " + current + ")");
      }
      if (target < current && !shrink) {
        throw new CliException("size: " + target + " is smaller than the current " + current
            + " (expected: --shrink to perform a shrink operation)");
      }
      try {
        img.resize(target, mode);
      } catch (IllegalArgumentException e) {
        throw new CliException(e.getMessage(), e);
      }
    }
    if (!quiet) {
      main.out().println("Image resized.");
    }
    return 0;
  }

  /** A mode by QEMU's spelling; qemu-img's message for others. */
  private static Preallocation parse(String text) {
    try {
      return Preallocation.parse(text, "resize", List.of(Preallocation.values()));
    } catch (IllegalArgumentException e) {
      throw new CliException("Invalid preallocation mode '" + text + "'", e);
    }
  }
}
