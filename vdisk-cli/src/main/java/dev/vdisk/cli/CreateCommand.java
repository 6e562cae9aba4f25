package dev.vdisk.cli;

import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
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
 * {@code vdisk create [-f fmt] [-o options] [-b backing -F fmt] [-u] [--force] [-q] FILE [SIZE]}: qemu-img create.
 * An existing file is replaced, as qemu-img replaces it, once QEMU's image lock for a writer is held on it, so an
 * image another process has open is refused untouched; {@code --force} is accepted and changes nothing.
 * {@code -o help} (or {@code -o ?}) lists the format's options. With a backing file
 * ({@code -b} or {@code -o backing_file}, qcow2 only) its format is required ({@code -F} or {@code -o backing_fmt}),
 * as qemu-img 7.2 requires it; the backing image is opened to check that format and, when SIZE is omitted, to take
 * its size, unless {@code -u}.
 */
@Command(name = "create", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk create -f qcow2 -o preallocation=metadata disk.qcow2 20G", "  vdisk create -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2"},
    description = "Create a new image.")
final class CreateCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = "-f", paramLabel = "FMT", defaultValue = "raw", description = "Image format (default: raw).")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS",
      description = "Format options, key=value[,key=value]... (repeatable); 'help' lists them.")
  List<String> options = new ArrayList<>();

  @Option(names = "-b", paramLabel = "BACKING", description = "Backing file (qcow2), recorded as given; relative names are relative to FILE's directory.")
  String backing;

  @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of the backing file (required with -b).")
  String backingFormat;

  @Option(names = "-u", description = "Unsafe: do not open the backing file (SIZE is then required).")
  boolean unsafe;

  @Option(names = "--force", description = "Accepted for scripts written for older vdisk: an existing file is replaced anyway.")
  boolean force;

  @Option(names = "-q", description = "Quiet: print nothing but errors.")
  boolean quiet;

  @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "The image file to create.")
  String file;

  @Parameters(index = "1", arity = "0..1", paramLabel = "SIZE",
      description = "Virtual size in bytes; suffixes k, M, G, T, P, E (binary), decimals like 1.5G.")
  String size;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = main.out();
    ImageFormat fmt = FormatRegistry.byName(format);
    String joined = String.join(",", options);
    if (OptionHelp.asked(joined)) {
      OptionHelp.print(fmt, file != null, out);
      return 0;
    }
    if (file == null) {
      throw new CliException("missing FILE (expected: vdisk create [-f fmt] [-o options] FILE [SIZE])");
    }
    Map<String, String> opts = OptionString.parse(joined);
    // -o size=N stands for SIZE, which wins where both are given (as in qemu-img).
    String optionSize = opts.remove("size");
    String size = this.size != null ? this.size : optionSize;
    if (backing != null) {
      opts.put("backing_file", backing);
    }
    if (backingFormat != null) {
      opts.put("backing_fmt", backingFormat);
    }
    fmt.checkOptionNames(opts);
    String backingFile = opts.get("backing_file");
    if (backingFile != null && opts.get("backing_fmt") == null) {
      throw new CliException("backing file '" + backingFile + "': no format given (expected: -F FMT or -o backing_fmt=FMT, as qemu-img 7.2 requires)");
    }
    if (size == null && backingFile == null) {
      throw new CliException("missing SIZE (expected: vdisk create [-f fmt] [-o options] FILE SIZE)");
    }
    if (size == null && unsafe) {
      throw new CliException("missing SIZE (expected: a SIZE with -u, which does not open the backing file)");
    }
    Path path = Path.of(file);
    long bytes = size != null ? Sizes.parse("size", size) : 0;
    if (backingFile != null && !unsafe) {
      bytes = backingSize(path, backingFile, opts.get("backing_fmt"), size == null ? -1 : bytes);
    }
    String summary = fmt.createSummary(bytes, opts);
    if (!quiet) {
      out.println("Formatting '" + file + "', fmt=" + fmt.name() + " " + summary);
      out.flush();
    }
    // Values are checked after the line above, as qemu-img checks them.
    CreateOptions typed = CreateOptions.parse(fmt.name(), opts);
    ImageSpec spec = ImageSpec.parse(file, false);
    if (DeviceTarget.isDevice(spec)) {
      // A host block device or an NBD export: written onto, never replaced or truncated (qemu-img's host_device).
      try (BlockDevice device = DeviceTarget.open(spec, new ImageOptions(), CacheMode.WRITEBACK)) {
        Vdisk.create(device, bytes, typed);
      } catch (IOException e) {
        String why = Main.describe(e);
        throw new CliException(why.startsWith(file) ? why : file + ": " + why, e);
      }
      return 0;
    }
    Vdisk.create(path, bytes, typed, true);
    return 0;
  }

  /**
   * Opens the backing image read-only as {@code format}, as qemu-img does to check it, and returns its size when
   * {@code size} is -1 (not given), else {@code size}.
   */
  private static long backingSize(Path image, String backingFile, String format, long size) throws IOException {
    Path parent = image.toAbsolutePath().getParent();
    Path resolved = RbdImages.isRbd(backingFile) ? Path.of(backingFile)
        : parent == null ? Path.of(backingFile) : parent.resolve(backingFile);
    if (!RbdImages.isRbd(backingFile) && !Files.exists(resolved)) {
      throw new CliException("backing file '" + backingFile + "': no such file " + resolved + " (expected: an existing image, or -u to skip the check)");
    }
    try (Image backing = Vdisk.open(resolved, OpenOptions.builder().format(format).readOnly(true).forceShare(true)
        .build())) {
      return size >= 0 ? size : backing.size();
    } catch (IOException | IllegalArgumentException e) {
      throw new CliException("backing file '" + backingFile + "': cannot be opened as " + format + ": " + Main.describe(e)
          + " (expected: an image of that format, or -u to skip the check)");
    }
  }
}
