package dev.vdisk.bench.matrix.jmh;

import dev.vdisk.bench.matrix.OffsetRunner;
import dev.vdisk.bench.matrix.Permutation;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.DirectBuffers;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.HdrHistogram.Histogram;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The matrix runner's own cost per request against the request it measures (issue 10: under 2% of a 4 KiB
 * page-cache read). Compare {@code pageCacheRead} (one 4 KiB pread of a warm file through {@link FileDevice}) with
 * {@code runnerRead} (the same reads sent by {@link OffsetRunner} at depth 1, per request) and {@code bookkeeping}
 * (only what the runner adds per request: the shared counter, two clock reads, a histogram record).
 *
 * <p>Not part of any test run: {@code ./mvnw -pl vdisk-bench -am test -Pjmh -DskipTests} on a quiet machine.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Thread)
public class RequestOverheadBenchmark {
  private static final int FILE_SIZE = 64 << 20;
  private static final int REQUESTS = 16384;

  private Path file;
  private FileDevice device;
  private ByteBuffer buf;
  private long[] offsets;
  private int next;
  private long last;
  private final AtomicInteger counter = new AtomicInteger();
  private final Histogram histogram = new Histogram(3);

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    file = Files.createTempFile("vdisk-jmh", ".img");
    Files.write(file, new byte[FILE_SIZE]);
    device = FileDevice.open(file, FileOptions.of(CacheMode.WRITEBACK, true));
    buf = DirectBuffers.aligned(4096);
    int[] order = Permutation.of(FILE_SIZE / 4096, 42);
    offsets = new long[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
      offsets[i] = (long) order[i] * 4096;
    }
    for (long o : offsets) { // warm the page cache
      buf.clear();
      device.read(o, buf);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    device.close();
    Files.deleteIfExists(file);
  }

  /** The request itself: one 4 KiB read that the page cache serves. */
  @Benchmark
  public ByteBuffer pageCacheRead() throws IOException {
    long o = offsets[next++ & (REQUESTS - 1)];
    buf.clear();
    device.read(o, buf);
    return buf;
  }

  /** The same reads through the runner at depth 1, per request (thread start and merge included). */
  @Benchmark
  @OperationsPerInvocation(REQUESTS)
  public long runnerRead() throws IOException {
    return OffsetRunner.run(device, offsets, 4096, 1, false, TimeUnit.HOURS.toNanos(1), () -> false).requests();
  }

  /** Only the runner's additions per request: the offset counter, one clock read, one histogram record. */
  @Benchmark
  public long bookkeeping() {
    int i = counter.getAndIncrement() & (REQUESTS - 1);
    long o = offsets[i];
    long now = System.nanoTime();
    histogram.recordValue(now - last);
    last = now;
    return o;
  }
}
