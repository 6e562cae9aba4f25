package dev.vdisk.cli;

import dev.vdisk.block.Extent;
import dev.vdisk.format.FormatRegistry;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.MeasureSource;
import dev.vdisk.format.Measurement;
import dev.vdisk.format.OpenImage;
import dev.vdisk.format.OptionString;
import dev.vdisk.format.qcow2.Qcow2Format;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
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
 * size}, plus {@code bitmaps size} where qemu-img prints it. {@code -l} (internal snapshots) is refused: vdisk
 * cannot read snapshots yet.
 */
@Command(name = "measure", mixinStandardHelpOptions = true, description = "Measure the file size a new image needs.")
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

  @Option(names = "-l", paramLabel = "SNAPSHOT", description = "Measure an internal snapshot (not supported yet).")
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
    if (snapshot != null) {
      throw new CliException("-l " + snapshot + ": internal snapshots cannot be read yet (expected: no -l)");
    }
    Measurement m;
    if (size != null) {
      m = target.measure(opts, Sizes.parse("--size", size), null);
    } else {
      try (OpenImage img = image.open(file, CacheMode.WRITEBACK, true, main.err())) {
        m = target.measure(opts, 0, new ChainSource(img, ImageChain.of(img, Path.of(file))));
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

  /** A source image seen through its whole backing chain. */
  private record ChainSource(OpenImage image, ImageChain chain) implements MeasureSource {
    @Override
    public long size() throws IOException {
      return image.device().size();
    }

    /** qcow2_measure's loop: each data range counts from the start of its first unit to the end of its last. */
    @Override
    public long dataBytes(long unit) throws IOException {
      long end = size();
      long bytes = 0;
      long countedUpTo = 0;
      for (long at = 0; at < end; ) {
        for (ImageChain.Status s : chain.status(at, end - at)) {
          Extent e = s.extent();
          if (e.data() && !e.zero()) {
            long from = Math.max(Math.floorDiv(e.offset(), unit) * unit, countedUpTo);
            long to = Math.ceilDiv(e.end(), unit) * unit;
            if (to > from) {
              bytes += to - from;
              countedUpTo = to;
            }
          }
          at = e.end();
        }
      }
      return bytes;
    }

    /** QEMU's qcow2_supports_persistent_dirty_bitmap: compat 1.1 sources only. */
    @Override
    public boolean supportsBitmaps() throws IOException {
      return Qcow2Format.isQcow2(image.device())
          && "1.1".equals(FormatRegistry.byName("qcow2").formatSpecific(image.device()).get("compat"));
    }

    @Override
    public long bitmapBytes(long clusterSize) {
      long count = Qcow2Format.bitmapCount(image.device());
      if (count > 0) {
        throw new CliException("source has " + count + " persistent bitmaps: measuring them is not supported yet (expected: an image without bitmaps)");
      }
      return 0;
    }
  }
}
