package dev.vdisk.cli;

import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.Measurement;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.OptionString;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk measure [--output=human|json] [-O fmt] [-o options] (--size N | [-f fmt] [-U] FILE)}: qemu-img
 * measure. Prints the file size a new image of format {@code -O} (default raw) needs: {@code required size} for
 * the data (from FILE, the clusters that hold data anywhere in its backing chain) and {@code fully allocated
 * size}, plus {@code bitmaps size} where qemu-img prints it. {@code -l SNAPSHOT} measures an internal snapshot of a
 * qcow2 FILE instead of its active layer, read as {@code convert -l} reads it ({@link SnapshotSource}).
 */
@Command(name = "measure", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk measure -O qcow2 disk.raw", "  vdisk measure -O qcow2 --size 1T"},
    description = "Measure the file size a new image needs.")
final class MeasureCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin OutputOption output;

  @Option(names = "-O", paramLabel = "OUTPUT_FMT", defaultValue = "raw", description = "Format of the new image (default: raw).")
  String targetFormat;

  @Option(names = "-o", paramLabel = "OPTIONS",
      description = "Options of the new image, key=value[,key=value]... (repeatable); 'help' lists them.")
  List<String> options = new ArrayList<>();

  @Option(names = "--size", paramLabel = "N", description = "Measure a new empty image of N bytes instead of FILE.")
  String size;

  @Option(names = "-l", paramLabel = "SNAPSHOT", description = "Measure internal snapshot SNAPSHOT (an ID or name, or "
      + "snapshot.id=ID[,snapshot.name=NAME]) of a qcow2 FILE instead of its active layer.")
  String snapshot;

  @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "The image whose contents the new image will hold.")
  String file;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = main.out();
    ImageFormat target = FormatRegistry.byName(targetFormat);
    String joined = String.join(",", options);
    if (OptionHelp.asked(joined)) {
      OptionHelp.print(target, false, out);
      return 0;
    }
    boolean json = output.json();
    Map<String, String> opts = OptionString.parse(joined);
    if (size != null && file != null) {
      throw new CliException("--size " + size + " and " + file + ": both given (expected: --size N or a FILE, not both)");
    }
    if (size == null && file == null) {
      throw new CliException("nothing to measure (expected: --size N or a FILE)");
    }
    if (file == null && (snapshot != null || image.format != null || image.imageOpts)) {
      throw new CliException("--image-opts, -f, and -l require a filename argument.");
    }
    Measurement m;
    if (size != null) {
      long bytes = Sizes.parse("--size", size);
      m = Vdisk.measure(CreateOptions.parseForMeasure(target.name(), opts), bytes);
    } else {
      try (Image img = image.openImage(file, true)) {
        if (snapshot == null) {
          m = Vdisk.measure(CreateOptions.parseForMeasure(target.name(), opts), img);
        } else {
          try (BlockDevice view = SnapshotSource.open(img, snapshot)) {
            m = Vdisk.measure(CreateOptions.parseForMeasure(target.name(), opts), view);
          }
        }
      }
    }
    if (json) {
      Map<String, Object> o = new LinkedHashMap<>();
      m.bitmaps().ifPresent(b -> o.put("bitmaps", b));
      o.put("required", m.required());
      o.put("fully-allocated", m.fullyAllocated());
      out.println(Json.pretty(o));
    } else {
      out.println("required size: " + m.required());
      out.println("fully allocated size: " + m.fullyAllocated());
      m.bitmaps().ifPresent(b -> out.println("bitmaps size: " + b));
    }
    return 0;
  }
}
