package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.io.CacheMode;
import dev.vdisk.ops.Progress;
import dev.vdisk.ops.internal.Compare;
import dev.vdisk.ops.internal.CompareException;
import dev.vdisk.ops.internal.CompareResult;
import dev.vdisk.ops.internal.Named;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk compare [-f fmt] [-F fmt] [-s] [-p] [-q] [-U] [-T cache] A B}: qemu-img compare over {@link Compare},
 * with its messages on standard output and its exit codes: 0 identical, 1 different, 2 an image could not be
 * opened (or a bad cache mode), 3 an allocation query failed, 4 a read failed. Wrong arguments exit 1, as
 * qemu-img's do.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk compare disk.raw disk.qcow2", "  vdisk compare -f raw -F qcow2 a.img b.qcow2"},
    description = "Check whether two images have the same contents.")
final class CompareCommand implements Callable<Integer> {
  static final int DIFFERENT = 1;
  static final int OPEN_FAILED = 2;
  static final int STATUS_FAILED = 3;
  static final int READ_FAILED = 4;

  @ParentCommand Main main;

  @Mixin ImageOptions first;

  @Option(names = "-F", paramLabel = "FMT", description = "Format of the second image; probed when absent.")
  String secondFormat;

  @Option(names = "-s", description = "Strict: different sizes or allocation are differences.")
  boolean strict;

  @Option(names = "-p", description = "Show a progress bar.")
  boolean progress;

  @Option(names = "-q", description = "Quiet: print nothing but errors.")
  boolean quiet;

  @Option(names = "-T", paramLabel = "CACHE", defaultValue = "writeback", description = "Cache mode of both images (default: writeback).")
  String cache;

  @Parameters(index = "0", paramLabel = "A", description = "The first image.")
  String fileA;

  @Parameters(index = "1", paramLabel = "B", description = "The second image.")
  String fileB;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = main.out();
    CacheMode mode;
    try {
      mode = CacheMode.parse(cache);
    } catch (IllegalArgumentException e) {
      return error(OPEN_FAILED, e.getMessage());
    }
    ImageOptions second = first.sibling(secondFormat);
    Image a = null;
    Image b = null;
    try {
      try {
        a = first.open(fileA, mode, true, main.err());
        b = second.open(fileB, mode, true, main.err());
      } catch (IOException | RuntimeException e) {
        return error(OPEN_FAILED, Main.describe(e));
      }
      Progress bar = ProgressBars.start("compare", progress && !quiet, main.err());
      CompareResult result;
      try {
        result = Compare.run(new Named(fileA, a), new Named(fileB, b), strict, bar);
      } catch (CompareException e) {
        ProgressBars.finish(bar);
        if (e.sizeWarning()) {
          say(out, CompareResult.SIZE_WARNING);
        }
        return error(e.stage() == CompareException.Stage.STATUS ? STATUS_FAILED : READ_FAILED, e.getMessage());
      } finally {
        ProgressBars.finish(bar);
      }
      if (result.sizeWarning()) {
        say(out, CompareResult.SIZE_WARNING);
      }
      say(out, result.message());
      return result.identical() ? 0 : DIFFERENT;
    } finally {
      if (b != null) {
        b.close();
      }
      if (a != null) {
        a.close();
      }
    }
  }

  private void say(PrintWriter out, String line) {
    if (!quiet) {
      out.println(line);
      out.flush();
    }
  }

  private int error(int code, String text) {
    main.out().flush();
    main.err().println(Main.errorLine("compare", text));
    main.err().flush();
    return code;
  }
}
