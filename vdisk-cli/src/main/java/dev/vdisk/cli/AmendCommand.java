package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.DoubleConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk amend [-p] [-q] [-f FMT] [-t CACHE] [--force] [--image-opts] -o OPTIONS IMAGE}: qemu-img amend, with
 * its messages and exit codes. The work is {@link Vdisk#amend}'s; {@code size=} is a resize afterwards (shrinking
 * allowed, as amend allows it). {@code -o help} lists the format's amend options as qemu-img does.
 */
@Command(name = "amend", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk amend -o compat=1.1,lazy_refcounts=on disk.qcow2", "  vdisk amend -o refcount_bits=64 disk.qcow2"},
    description = "Change the format options of an image.")
final class AmendCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format; probed when absent.")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS",
      description = "Options to change, key=value[,key=value]... (repeatable); 'help' lists them.")
  List<String> options = new ArrayList<>();

  @Option(names = "-t", paramLabel = "CACHE", defaultValue = "writeback",
      description = "Cache mode: writeback (default), writethrough, none, directsync, unsafe.")
  String cache;

  @Option(names = "-p", description = "Show progress.")
  boolean progress;

  @Option(names = "-q", description = "Quiet: no progress.")
  boolean quiet;

  @Option(names = "--force", description = "Accepted as qemu-img accepts it (it only matters for amending encryption, which vdisk does not build).")
  boolean force;

  @Option(names = "--image-opts", description = "IMAGE is driver=raw|qcow2,file.filename=PATH.")
  boolean imageOpts;

  @Parameters(arity = "0..*", paramLabel = "IMAGE", description = "The image.")
  List<String> files = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    if (options.isEmpty()) {
      throw new CliException("Must specify options (-o)");
    }
    for (String o : options) {
      if (o.isEmpty() || o.startsWith(",") || (o.endsWith(",") && !o.endsWith(",,"))) {
        throw new CliException("Invalid option list: " + o);
      }
    }
    String joined = String.join(",", options);
    if (files.size() != 1 && !(OptionHelp.asked(joined) && format != null && files.isEmpty())) {
      throw new CliException("Expecting one image file name");
    }
    CacheMode mode;
    try {
      mode = CacheMode.parse(cache);
    } catch (IllegalArgumentException e) {
      throw new CliException("Invalid cache option: " + cache);
    }
    String fmt = format;
    String file = files.isEmpty() ? null : files.getFirst();
    if (imageOpts && file != null) {
      ImageOptsFile opts = ImageOptsFile.parse(file);
      fmt = opts.format();
      file = opts.file();
    }
    if (OptionHelp.asked(joined)) {
      ImageFormat f = fmt != null ? FormatRegistry.byName(fmt) : probe(file);
      if (f.amendOptionNames().isEmpty()) {
        throw new CliException("Format driver '" + f.name() + "' does not support option amendment");
      }
      OptionHelp.printAmend(f, f.amendOptionNames(), main.out());
      return 0;
    }
    Map<String, String> amend;
    try {
      amend = OptionString.parse(joined);
    } catch (IllegalArgumentException e) {
      throw new CliException("Invalid option list: " + joined);
    }
    Path path = opened(file, fmt);
    OpenOptions open = OpenOptions.builder().format(fmt).cache(mode).build();
    boolean show = progress && !quiet;
    try {
      Vdisk.amend(path, amend, open, show ? new Progress(main.out()) : f -> {}, problem -> {
        main.err().println(problem.message());
        main.err().flush();
      });
    } catch (UnsupportedOperationException e) {
      throw new CliException(e.getMessage());
    }
    if (amend.containsKey("size")) {
      long size = Sizes.parse("size", amend.get("size"));
      try (Image image = Vdisk.open(path, OpenOptions.builder().format(fmt).cache(mode).build())) {
        image.resize(size);
      }
    }
    if (show) {
      main.out().println();
    }
    return 0;
  }

  /**
   * {@code file} as a path once its image opens with its backing chain and data file, as qemu-img amend opens it
   * (qemu-img's error where it does not).
   */
  private static Path opened(String file, String fmt) throws IOException {
    try (Image whole = openWhole(file, fmt)) {
      return Path.of(file);
    }
  }

  /** The format {@code file}'s image opens as when none is named, once it opens as {@link #opened} requires. */
  private static ImageFormat probe(String file) throws IOException {
    try (Image whole = openWhole(file, null)) {
      return FormatRegistry.byName(whole.format());
    }
  }

  private static Image openWhole(String file, String fmt) throws IOException {
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new CliException("Could not open '" + file + "': Could not open '" + file + "': No such file or directory");
    }
    try {
      return Vdisk.open(path, OpenOptions.builder().format(fmt).readOnly(true).forceShare(true).build());
    } catch (IOException e) {
      throw new CliException("Could not open '" + file + "': " + Main.describe(e), e);
    }
  }

  /** qemu-img's progress line: {@code "    (P/100%)"} rewritten in place at each whole percent. */
  private static final class Progress implements DoubleConsumer {
    private final PrintWriter out;
    private int shown = -1;

    Progress(PrintWriter out) {
      this.out = out;
    }

    @Override
    public void accept(double fraction) {
      int percent = (int) Math.floor(fraction * 100);
      if (percent != shown) {
        shown = percent;
        out.printf("    (%.2f/100%%)\r", fraction * 100);
        out.flush();
      }
    }
  }
}
