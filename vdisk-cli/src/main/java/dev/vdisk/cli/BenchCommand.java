package dev.vdisk.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.Image;
import dev.vdisk.bench.BenchResult;
import dev.vdisk.bench.BenchRunner;
import dev.vdisk.bench.BenchSpec;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.ImageUser;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk bench}: qemu-img bench's options, request stream ({@link BenchRunner}) and report lines;
 * {@code --output=json} adds latency percentiles for scripts. Opens the image read-only unless {@code -w}.
 * Unlike qemu-img 7.2, whose bench ignores {@code -q}, {@code -q} silences the report. With {@code --matrix} it
 * runs the cache-mode and layout matrix instead ({@link BenchMatrix}), which takes no image.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk bench -t none -d 16 -w disk.qcow2", "  vdisk bench --matrix --quick --report matrix.html"},
    description = "Measure an image with qemu-img bench's workload.")
final class BenchCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin OutputOption output;

  @Mixin BenchMatrix matrix;

  @Option(names = "-c", paramLabel = "COUNT", description = "Requests to send (default 75000).")
  String count;

  @Option(names = "-d", paramLabel = "DEPTH", description = "Requests in flight at once (default 64).")
  String depth;

  @Option(names = "--flush-interval", paramLabel = "N", description = "Flush every N requests (write tests only; N >= depth).")
  String flushInterval;

  @Option(names = "--no-drain", description = "Do not wait for in-flight requests before a flush.")
  boolean noDrain;

  @Option(names = "-o", paramLabel = "OFFSET", description = "Offset of the first request (default 0).")
  String offset;

  @Option(names = "--pattern", paramLabel = "BYTE", description = "Byte written by write requests (default 0).")
  String pattern;

  @Option(names = "-q", description = "Quiet: print nothing but errors.")
  boolean quiet;

  @Option(names = "-s", paramLabel = "SIZE", description = "Bytes per request (default 4096).")
  String bufferSize;

  @Option(names = "-S", paramLabel = "STEP", description = "Bytes between request offsets (default: the request size).")
  String step;

  @Option(names = "-t", paramLabel = "CACHE", defaultValue = "writeback",
      description = "Cache mode: writeback (default), writethrough, none, directsync, unsafe.")
  String cache;

  @Option(names = "-w", description = "Write instead of read.")
  boolean write;

  @Option(names = "-i", paramLabel = "AIO", description = AioOption.HELP)
  String aio;

  @Option(names = "-n", description = "Native AIO: -i native (qemu-img bench's older spelling; -i wins if given).")
  boolean nativeAio;

  @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "The image (not with --matrix).")
  String file;

  /** The JSON report. Sizes in bytes, latencies in microseconds. */
  @JsonPropertyOrder({"count", "depth", "size", "step", "offset", "write", "flush-interval", "drain", "cache",
      "aio", "seconds", "iops", "bytes-per-second", "latency-us"})
  record Report(
      @JsonProperty("count") int count,
      @JsonProperty("depth") int depth,
      @JsonProperty("size") int size,
      @JsonProperty("step") long step,
      @JsonProperty("offset") long offset,
      @JsonProperty("write") boolean write,
      @JsonProperty("flush-interval") int flushInterval,
      @JsonProperty("drain") boolean drain,
      @JsonProperty("cache") String cache,
      @JsonProperty("aio") String aio,
      @JsonProperty("seconds") double seconds,
      @JsonProperty("iops") double iops,
      @JsonProperty("bytes-per-second") long bytesPerSecond,
      @JsonProperty("latency-us") Latency latency) {}

  /** Percentiles of request latency, microseconds. */
  @JsonPropertyOrder({"min", "mean", "p50", "p90", "p99", "p99.9", "max"})
  record Latency(
      @JsonProperty("min") double min,
      @JsonProperty("mean") double mean,
      @JsonProperty("p50") double p50,
      @JsonProperty("p90") double p90,
      @JsonProperty("p99") double p99,
      @JsonProperty("p99.9") double p999,
      @JsonProperty("max") double max) {

    static Latency of(Histogram h) {
      return new Latency(us(h.getTotalCount() == 0 ? 0 : h.getMinValue()), h.getMean() / 1000, us(h.getValueAtPercentile(50)),
          us(h.getValueAtPercentile(90)), us(h.getValueAtPercentile(99)), us(h.getValueAtPercentile(99.9)), us(h.getMaxValue()));
    }

    private static double us(long nanos) {
      return nanos / 1000.0;
    }
  }

  @Override
  public Integer call() throws IOException {
    if (matrix.matrix) {
      if (file != null || count != null || depth != null || write || bufferSize != null || step != null || offset != null
          || flushInterval != null || pattern != null) {
        throw new CliException("--matrix: takes no image and none of -c -d -w -s -S -o --pattern --flush-interval "
            + "(expected: --matrix with its own options, see 'vdisk bench --help')");
      }
      return matrix.run(main, output.json());
    }
    if (file == null) {
      throw new CliException("missing the image (expected: vdisk bench [options] FILE, or vdisk bench --matrix)");
    }
    BenchSpec spec = spec();
    CacheMode mode = CacheMode.parse(cache);
    Aio aioMode = AioOption.parse("-i", aio == null && nativeAio ? "native" : aio, mode);
    boolean json = output.json();
    PrintWriter out = main.out();
    try (Image img = image.open(file, mode, aioMode, !write, ImageUser.TOOL, main.err())) {
      boolean human = !json && !quiet;
      if (human) {
        out.printf("Sending %d %s requests, %d bytes each, %d in parallel (starting at offset %d, step size %d)\n",
            spec.count(), spec.write() ? "write" : "read", spec.bufferSize(), spec.depth(), spec.offset(), spec.step());
        if (spec.flushInterval() > 0) {
          out.printf("Sending flush every %d requests\n", spec.flushInterval());
        }
        out.flush();
      }
      // The guard itself: no layer more than the stack in the measured path.
      // On RBD a request parks until librbd's callback: virtual threads, so completions wake fewer threads.
      BenchResult r = BenchRunner.run(img.unwrap(), spec, image.onRbd(file) ? Thread.ofVirtual() : Thread.ofPlatform());
      if (human) {
        out.println("Run completed in " + Sizes.fixed(r.seconds(), 3) + " seconds.");
      }
      if (json) {
        out.println(Json.pretty(new Report(spec.count(), spec.depth(), spec.bufferSize(), spec.step(), spec.offset(),
            spec.write(), spec.flushInterval(), spec.drain(), mode.name(), img.file().map(f -> f.aio().toString()).orElse(aioMode.toString()), r.seconds(), r.iops(), Math.round(r.bytesPerSecond()),
            Latency.of(r.latency()))));
      }
    }
    return 0;
  }

  /** The workload, every argument checked as qemu-img checks it (with vdisk's messages). */
  private BenchSpec spec() {
    BenchSpec spec = BenchSpec.DEFAULTS.withWrite(write).withDrain(!noDrain);
    if (count != null) {
      spec = spec.withCount(Args.integer("-c", count, 0, Integer.MAX_VALUE));
    }
    if (depth != null) {
      spec = spec.withDepth(Args.integer("-d", depth, 1, Integer.MAX_VALUE));
    }
    if (bufferSize != null) {
      spec = spec.withBufferSize(intSize("-s", bufferSize));
    }
    if (step != null) {
      int s = intSize("-S", step);
      // qemu-img: -S 0 means the default, the request size.
      spec = spec.withStep(s == 0 ? spec.bufferSize() : s);
    }
    if (offset != null) {
      spec = spec.withOffset(Sizes.parse("-o", offset));
    }
    if (pattern != null) {
      spec = spec.withPattern(Args.integer("--pattern", pattern, 0, 255));
    }
    if (flushInterval != null) {
      spec = spec.withFlushInterval(Args.integer("--flush-interval", flushInterval, 0, Integer.MAX_VALUE));
    }
    return spec;
  }

  private static int intSize(String what, String text) {
    long v = Sizes.parse(what, text);
    if (v > Integer.MAX_VALUE) {
      throw new CliException(what + ": '" + text + "' (expected: at most " + Integer.MAX_VALUE + " bytes)");
    }
    return (int) v;
  }
}
