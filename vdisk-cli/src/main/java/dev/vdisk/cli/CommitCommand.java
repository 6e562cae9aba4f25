package dev.vdisk.cli;

import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] [-r rate] IMAGE}: qemu-img commit over {@link
 * Commit}, with its defaults (cache writeback), its messages and {@code Image committed.} on success. As in qemu-img,
 * {@code -b} implies {@code -d}: the image is emptied only when it is committed into its own backing file.
 */
@Command(name = "commit", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk commit overlay.qcow2", "  vdisk commit -d -p overlay.qcow2"},
    description = "Write an image's data into its backing file.")
final class CommitCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format; probed when absent.")
  String format;

  @Option(names = "--image-opts", description = "IMAGE is a QEMU option string: driver=raw|qcow2,file.filename=PATH.")
  boolean imageOpts;

  @Option(names = "-b", paramLabel = "BASE", description = "The image of the backing chain to commit into (implies -d).")
  String base;

  @Option(names = "-d", description = "Leave the image as it is (do not empty it).")
  boolean drop;

  @Option(names = "-r", paramLabel = "RATE", description = "Copy at most RATE bytes of data per second (k, M, G suffixes).")
  String rate;

  @Option(names = "-t", paramLabel = "CACHE", defaultValue = "writeback", description = "Cache mode (default: writeback).")
  String cache;

  @Option(names = "-p", description = "Show a progress bar.")
  boolean progress;

  @Option(names = "-q", description = "Quiet: no progress bar, no message.")
  boolean quiet;

  @Parameters(arity = "0..*", paramLabel = "IMAGE", description = "The image.")
  List<String> files = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    long limit = rate == null ? 0 : Sizes.rateLimit(rate);
    if (files.size() != 1) {
      throw new CliException("Expecting one image file name");
    }
    ImageSpec image = Commands.localImage(files.getFirst(), imageOpts);
    OpenOptions options = OpenOptions.builder().format(image.format() != null ? image.format() : format)
        .cache(Commands.cacheMode(cache)).build();
    Progress bar = ProgressBars.start("commit", progress && !quiet, main.err());
    try {
      Vdisk.commit(Commands.existing(image.file()), base, drop, limit, options, bar);
    } finally {
      ProgressBars.finish(bar);
    }
    if (!quiet) {
      main.out().println("Image committed.");
    }
    return 0;
  }
}
