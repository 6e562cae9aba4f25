package dev.vdisk.bench.matrix.jmh;

import dev.vdisk.bench.matrix.LatencySampling;
import dev.vdisk.bench.matrix.OffsetRunner;
import dev.vdisk.bench.matrix.Permutation;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The matrix runner's own cost per request against the request it measures (issue 10: under 2% of a 4 KiB
 * page-cache read). {@code pageCacheRead} is one 4 KiB pread of a warm file through {@link FileDevice};
 * {@code runnerOverhead} is {@link OffsetRunner} itself, per request, sending requests to a device that does nothing
 * (so everything it measures is the runner's: offset counter, end checks, latency sampling, clock reads, histogram;
 * the no-op device call is counted too); {@code runnerRead} sends the page-cache reads through the runner at depth 1
 * (thread start included), a cross-check whose difference to {@code pageCacheRead} is within that benchmark's noise.
 * The runner benchmarks run for each latency sampling interval {@code interval} (1: every request timed), without
 * the calibration of a real run ({@link LatencySampling#forRun}), so they show the cost per request at each interval;
 * {@code runnerOverheadAsPlanned} is a run of 2^20 requests sampled as the matrix samples it (the no-op device's
 * requests are fast, so its workers pick the sparsest interval).
 * {@code clockRead} is one {@code System.nanoTime()}, what timing a request costs at least.
 *
 * <p>Not part of any test run: {@code ./mvnw -B -pl vdisk-bench -am clean test -Pjmh -DskipTests} on a quiet machine
 * (clean: test classes compiled without -Pjmh lack the benchmark list JMH needs).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Thread)
public class RequestOverheadBenchmark {
  private static final int FILE_SIZE = 64 << 20;
  private static final int READS = 16384;
  /** Requests per runnerOverhead invocation: enough that starting the worker thread costs well under 1 ns each. */
  private static final int NOOP_REQUESTS = 1 << 20;
  private static final long SEED = 42;

  private Path file;
  private FileDevice device;
  private ByteBuffer buf;
  private long[] offsets;
  private long[] noopOffsets;
  private int next;

  /** The runner's latency sampling interval, for the runner benchmarks only. */
  @State(Scope.Benchmark)
  public static class Sampling {
    @Param({"1", "2", "4", "8", "16"})
    public int interval;
  }

  /** A device that answers every read and write at once without touching the buffer's bytes. */
  @State(Scope.Benchmark)
  public static class NoopDevice {
    BlockDevice device;

    @Setup(Level.Trial)
    public void setUp() {
      device = new FilterDevice(new MemoryDevice(FILE_SIZE)) {
        @Override
        public void read(long offset, ByteBuffer dst) {
          dst.position(dst.limit());
        }

        @Override
        public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) {
          src.position(src.limit());
        }
      };
    }
  }

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    file = Files.createTempFile("vdisk-jmh", ".img");
    Files.write(file, new byte[FILE_SIZE]);
    device = FileDevice.open(file, FileOptions.of(CacheMode.WRITEBACK, true));
    buf = DirectBuffers.aligned(4096);
    int[] order = Permutation.of(FILE_SIZE / 4096, SEED);
    offsets = new long[READS];
    for (int i = 0; i < READS; i++) {
      offsets[i] = (long) order[i] * 4096;
    }
    noopOffsets = new long[NOOP_REQUESTS];
    for (int i = 0; i < NOOP_REQUESTS; i++) {
      noopOffsets[i] = (long) order[i % order.length] * 4096;
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
    long o = offsets[next++ & (READS - 1)];
    buf.clear();
    device.read(o, buf);
    return buf;
  }

  /** One clock read, as the runner reads it. */
  @Benchmark
  public long clockRead() {
    return System.nanoTime();
  }

  /** What the runner adds per request: the runner at depth 1 sending to a device that does nothing. */
  @Benchmark
  @OperationsPerInvocation(NOOP_REQUESTS)
  public long runnerOverhead(NoopDevice noop, Sampling sampling) throws IOException {
    return OffsetRunner.run(noop.device, noopOffsets, 4096, 1, false, TimeUnit.HOURS.toNanos(1), () -> false,
        new LatencySampling(0, sampling.interval, SEED)).requests();
  }

  /**
   * What the runner adds per request in a run of 2^20 requests sampled as the matrix samples it
   * ({@link LatencySampling#forRun}: the first 16 timed, then 1 in 16 for requests this fast).
   */
  @Benchmark
  @OperationsPerInvocation(NOOP_REQUESTS)
  public long runnerOverheadAsPlanned(NoopDevice noop) throws IOException {
    return OffsetRunner.run(noop.device, noopOffsets, 4096, 1, false, TimeUnit.HOURS.toNanos(1), () -> false)
        .requests();
  }

  /** The page-cache reads through the runner at depth 1, per request (thread start and merge included). */
  @Benchmark
  @OperationsPerInvocation(READS)
  public long runnerRead(Sampling sampling) throws IOException {
    return OffsetRunner.run(device, offsets, 4096, 1, false, TimeUnit.HOURS.toNanos(1), () -> false,
        new LatencySampling(0, sampling.interval, SEED)).requests();
  }
}
