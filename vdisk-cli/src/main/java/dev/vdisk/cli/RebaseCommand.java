package dev.vdisk.cli;

import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.io.CacheMode;
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
 * {@code vdisk rebase [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-U] -b NEWBASE [-F fmt] IMAGE}: qemu-img
 * rebase over {@link Vdisk#rebase}, with its defaults (both cache modes writeback) and messages. {@code -b ""} flattens;
 * {@code -u} without {@code -b} removes the backing file name, as in qemu-img. Unlike qemu-img, a backing file
 * without {@code -F} is refused before anything is copied (qemu-img copies, then fails with the same message).
 */
@Command(name = "rebase", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk rebase -b new-base.qcow2 -F qcow2 overlay.qcow2", "  vdisk rebase -b \"\" overlay.qcow2"},
    description = "Change the backing file of an image.")
final class RebaseCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format; probed when absent.")
  String format;

  @Option(names = "--image-opts", description = "IMAGE is a QEMU option string: driver=raw|qcow2,file.filename=PATH.")
  boolean imageOpts;

  @Option(names = "-b", paramLabel = "NEWBASE", description = "The new backing file (\"\": none, the image is flattened).")
  String backing;

  @Option(names = "-F", paramLabel = "FMT", description = "The new backing file's format (required with a backing file).")
  String backingFormat;

  @Option(names = "-u", description = "Unsafe: rewrite the header only; no data is copied, no backing file opened.")
  boolean unsafe;

  @Option(names = "-t", paramLabel = "CACHE", defaultValue = "writeback", description = "The image's cache mode (default: writeback).")
  String cache;

  @Option(names = "-T", paramLabel = "SRC_CACHE", defaultValue = "writeback",
      description = "The backing images' cache mode (default: writeback).")
  String sourceCache;

  @Option(names = "-U", description = "Open the new backing file even if another process holds it.")
  boolean forceShare;

  @Option(names = "-p", description = "Show a progress bar.")
  boolean progress;

  @Option(names = "-q", description = "Quiet: no progress bar.")
  boolean quiet;

  @Parameters(arity = "0..*", paramLabel = "IMAGE", description = "The image.")
  List<String> files = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    if (files.size() != 1) {
      throw new CliException("Expecting one image file name");
    }
    if (!unsafe && backing == null) {
      throw new CliException("Must specify backing file (-b) or use unsafe mode (-u)");
    }
    CacheMode imageCache = Commands.cacheMode(cache);
    CacheMode backingCache = Commands.cacheMode(sourceCache);
    ImageSpec image = Commands.localImage(files.getFirst(), imageOpts);
    OpenOptions options = OpenOptions.builder().format(image.format() != null ? image.format() : format)
        .cache(imageCache).build();
    Progress bar = ProgressBars.start("rebase", progress && !quiet, main.err());
    try {
      Vdisk.rebase(Commands.existing(image.file()), backing == null ? "" : backing, backingFormat, unsafe, options,
          backingCache, forceShare, bar);
    } finally {
      ProgressBars.finish(bar);
    }
    return 0;
  }
}
