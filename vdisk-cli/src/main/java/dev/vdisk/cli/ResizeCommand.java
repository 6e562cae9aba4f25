package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.ImageUser;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk resize [-f fmt] [--shrink] [-q] FILE [+|-]SIZE}: qemu-img resize. Growing needs nothing more;
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

  @Option(names = "--preallocation", paramLabel = "MODE", description = "off only (other modes are not supported yet).")
  String preallocation;

  @Option(names = "-q", description = "Quiet: print nothing on success.")
  boolean quiet;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Parameters(index = "1", paramLabel = "SIZE", description = "The new size, or +N / -N relative to the current one.")
  String size;

  @Override
  public Integer call() throws IOException {
    if (preallocation != null && !preallocation.equals("off")) {
      throw new CliException("--preallocation: " + preallocation + " (expected: off; other modes are not supported yet)");
    }
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
      img.resize(target);
    }
    if (!quiet) {
      main.out().println("Image resized.");
    }
    return 0;
  }
}
