package dev.vdisk.cli;

import dev.vdisk.format.FormatRegistry;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.OptionString;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk create [-f fmt] [-o options] [--force] [-q] FILE SIZE}: qemu-img create, except that an
 * existing file is refused unless {@code --force} (qemu-img overwrites it silently) and that the size must
 * be positive. {@code -o help} (or {@code -o ?}) lists the format's options.
 */
@Command(name = "create", mixinStandardHelpOptions = true, description = "Create a new image.")
final class CreateCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = "-f", paramLabel = "FMT", defaultValue = "raw", description = "Image format (default: raw).")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS",
      description = "Format options, key=value[,key=value]... (repeatable); 'help' lists them.")
  List<String> options = new ArrayList<>();

  @Option(names = "--force", description = "Overwrite an existing file.")
  boolean force;

  @Option(names = "-q", description = "Quiet: print nothing but errors.")
  boolean quiet;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image file to create.")
  String file;

  @Parameters(index = "1", arity = "0..1", paramLabel = "SIZE",
      description = "Virtual size in bytes; suffixes k, M, G, T, P, E (binary), decimals like 1.5G.")
  String size;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = main.out();
    ImageFormat fmt = FormatRegistry.byName(format);
    String joined = String.join(",", options);
    if (asksForHelp(joined)) {
      out.println("Supported options:");
      fmt.createOptionNames().stream().sorted().forEach(name -> out.println("  " + name + "=<value>"));
      return 0;
    }
    if (size == null) {
      throw new CliException("missing SIZE (expected: vdisk create [-f fmt] [-o options] FILE SIZE)");
    }
    long bytes = Sizes.parse("size", size);
    if (bytes == 0) {
      throw new CliException("size: '" + size + "' is zero (expected: a size > 0)");
    }
    Map<String, String> opts = OptionString.parse(joined);
    fmt.checkOptionNames(opts);
    Path path = Path.of(file);
    if (!force && Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      throw new CliException(file + ": already exists (expected: a new file, or --force to overwrite it)");
    }
    if (!quiet) {
      StringBuilder line = new StringBuilder("Formatting '" + file + "', fmt=" + fmt.name() + " size=" + bytes);
      opts.forEach((k, v) -> line.append(' ').append(k).append('=').append(v));
      out.println(line);
      out.flush();
    }
    fmt.create(path, bytes, opts, force);
    return 0;
  }

  /** qemu-img's has_help_option: any entry of the option list is {@code help} or {@code ?}. */
  private static boolean asksForHelp(String options) {
    for (String entry : options.split(",")) {
      if (entry.equals("help") || entry.equals("?")) {
        return true;
      }
    }
    return false;
  }
}
