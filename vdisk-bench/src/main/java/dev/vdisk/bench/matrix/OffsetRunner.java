package dev.vdisk.bench.matrix;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.HdrHistogram.Histogram;

/**
 * Sends requests of one size to a {@link BlockDevice} at given offsets, {@code depth} at a time, and measures them.
 *
 * <p>{@code depth} platform threads each take the next offset from one shared counter and do a synchronous request
 * on their own 4 KiB-aligned direct buffer (so an O_DIRECT device needs no bounce; {@link DirectBuffers#contiguous}). The rates count every request
 * over the run's whole time; latencies are those of a weighted random sample of the requests
 * ({@link LatencySampling}), each worker recording its own in its own histogram, merged at the end. Per request the
 * runner adds one atomic increment, two volatile reads and the sampler's shift and mask; per timed request one or two
 * clock reads (a timed request's latency runs from the clock read that ended its worker's previous request, so it
 * includes the loop's few nanoseconds of bookkeeping) and a histogram increment; see RequestOverheadBenchmark. A run
 * ends when every offset is done, when the time budget is spent (requests already started finish and count), when
 * {@code stop} says so, or at the first failure, which is thrown.
 */
public final class OffsetRunner {
  private static final byte PATTERN = (byte) 0xa5;

  private final BlockDevice device;
  private final long[] offsets;
  private final int size;
  private final boolean write;
  private final LatencySampling sampling;
  private final AtomicInteger next = new AtomicInteger();
  private final AtomicReference<IOException> failure = new AtomicReference<>();
  private final BooleanSupplier stop;
  /** Set when the time budget is spent or a request failed: no worker starts another request. */
  private volatile boolean ended;

  private OffsetRunner(BlockDevice device, long[] offsets, int size, boolean write, LatencySampling sampling,
      BooleanSupplier stop) {
    this.device = device;
    this.offsets = offsets;
    this.size = size;
    this.write = write;
    this.sampling = sampling;
    this.stop = stop;
  }

  /**
   * Runs the requests, timing the sample {@link LatencySampling#forRun} picks, and returns what they measured.
   *
   * @param budgetNanos time after which no new request starts
   * @param stop polled before each request: true ends the run early (Ctrl-C)
   * @throws IOException the first request that failed
   */
  public static RunStats run(BlockDevice device, long[] offsets, int size, int depth, boolean write, long budgetNanos,
      BooleanSupplier stop) throws IOException {
    return run(device, offsets, size, depth, write, budgetNanos, stop, LatencySampling.forRun());
  }

  /** {@link #run(BlockDevice, long[], int, int, boolean, long, BooleanSupplier)}, timing the given sample. */
  public static RunStats run(BlockDevice device, long[] offsets, int size, int depth, boolean write, long budgetNanos,
      BooleanSupplier stop, LatencySampling sampling) throws IOException {
    if (depth < 1 || size < 1 || size > DirectBuffers.MAX_SIZE) {
      throw new IllegalArgumentException("depth " + depth + ", request size " + size
          + " (expected: depth >= 1, size 1 to " + DirectBuffers.MAX_SIZE + ")");
    }
    return new OffsetRunner(device, offsets, size, write, sampling, stop).run(depth, budgetNanos);
  }

  private RunStats run(int depth, long budgetNanos) throws IOException {
    CountDownLatch ready = new CountDownLatch(depth);
    CountDownLatch go = new CountDownLatch(1);
    List<Histogram> histograms = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    // Each worker's requests, timed requests and the time it stopped, kept apart so that no completion contends for
    // shared state.
    long[] sent = new long[depth];
    long[] timed = new long[depth];
    long[] calibrated = new long[depth];
    int[] intervals = new int[depth];
    long[] stopped = new long[depth];
    // On huge pages where the kernel has them: a large request is then one segment for the disk (DirectBuffers).
    ByteBuffer[] buffers = DirectBuffers.contiguous(depth, size);
    for (int i = 0; i < depth; i++) {
      Histogram h = new Histogram(3);
      histograms.add(h);
      int slot = i;
      ByteBuffer buf = buffers[i];
      threads.add(Thread.ofPlatform().name("vdisk-matrix-" + i)
          .start(() -> worker(slot, buf, h, ready, go, sent, timed, calibrated, intervals, stopped)));
    }
    long start;
    try {
      ready.await();
      start = System.nanoTime();
      go.countDown();
      awaitBudget(threads, start + budgetNanos);
    } catch (InterruptedException e) {
      ended = true;
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("bench: interrupted");
    }
    if (failure.get() != null) {
      throw failure.get();
    }
    Histogram latency = new Histogram(3);
    histograms.forEach(latency::add);
    long done = 0;
    long timedTotal = 0;
    long calibratedTotal = 0;
    int sampledOneIn = 1;
    long end = start;
    for (int i = 0; i < depth; i++) {
      done += sent[i];
      timedTotal += timed[i];
      calibratedTotal += calibrated[i];
      sampledOneIn = Math.max(sampledOneIn, intervals[i]);
      end = Math.max(end, stopped[i]);
    }
    return new RunStats(done, done * size, end - start, latency, timedTotal, calibratedTotal, sampledOneIn);
  }

  /**
   * Waits until every worker is done or the deadline passes, then ends the run and waits for the requests in flight.
   * The deadline is kept here rather than by the workers so that they need no clock read per request.
   */
  private void awaitBudget(List<Thread> threads, long deadline) throws InterruptedException {
    for (Thread t : threads) {
      long left = deadline - System.nanoTime();
      if (left <= 0 || !t.join(Duration.ofNanos(left))) {
        break;
      }
    }
    ended = true;
    for (Thread t : threads) {
      t.join();
    }
  }

  /**
   * Sends requests until the run ends; leaves its request count, its timed request count, how many of those it timed
   * while calibrating, the sampling interval it picked and the time it stopped, just after its last request completed
   * (0 if it sent none), in the arrays.
   */
  private void worker(int slot, ByteBuffer buf, Histogram latency, CountDownLatch ready, CountDownLatch go,
      long[] sent, long[] timed, long[] calibrated, int[] intervals, long[] stopped) {
    // buf is exactly as large as a request, so clear() alone readies it for the next one.
    while (buf.hasRemaining()) {
      buf.put(PATTERN);
    }
    LatencySampling.Sampler sampler = sampling.sampler(slot);
    int weight = sampler.next();
    long requests = 0;
    long timedRequests = 0;
    ready.countDown();
    try {
      go.await();
      // A timed request starts at the clock read that ended its worker's previous request (here: the start), read
      // only when the request after it is to be timed.
      long now = System.nanoTime();
      while (!ended && !stop.getAsBoolean()) {
        int i = next.getAndIncrement();
        if (i >= offsets.length) {
          break;
        }
        buf.clear();
        long t0 = now;
        if (write) {
          device.write(offsets[i], buf, Set.of());
        } else {
          device.read(offsets[i], buf);
        }
        requests++;
        if (weight > 0) {
          now = System.nanoTime();
          latency.recordValueWithCount(now - t0, weight);
          sampler.observe(now - t0);
          timedRequests++;
          weight = sampler.next();
        } else {
          weight = sampler.next();
          if (weight > 0) {
            now = System.nanoTime();
          }
        }
      }
    } catch (IOException e) {
      fail(e);
    } catch (InterruptedException e) {
      fail(new InterruptedIOException("bench: interrupted"));
    } catch (RuntimeException e) {
      // A broken device must stop the run, not hang it.
      fail(new IOException("bench: " + e, e));
    } finally {
      sent[slot] = requests;
      timed[slot] = timedRequests;
      calibrated[slot] = Math.min(requests, sampling.calibration());
      intervals[slot] = sampler.interval();
      // A worker that sent nothing (it woke after the others had taken every offset) does not stretch the run.
      stopped[slot] = requests == 0 ? 0 : System.nanoTime();
    }
  }

  private void fail(IOException e) {
    failure.compareAndSet(null, e);
    ended = true;
  }
}
