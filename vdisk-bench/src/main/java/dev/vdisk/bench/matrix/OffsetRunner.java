package dev.vdisk.bench.matrix;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.io.DirectBuffers;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
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
 * on their own 4 KiB-aligned direct buffer (so an O_DIRECT device needs no bounce); each records its latencies in its
 * own histogram, merged at the end, so the bookkeeping per request is one atomic increment, one clock read (a
 * request's start is the previous one's completion) and a histogram increment (see RequestOverheadBenchmark). A run ends when every offset is done, when the time budget is
 * spent (requests already started finish and count), when {@code stop} says so, or at the first failure, which is
 * thrown.
 */
public final class OffsetRunner {
  private static final byte PATTERN = (byte) 0xa5;

  private final BlockDevice device;
  private final long[] offsets;
  private final int size;
  private final boolean write;
  private final AtomicInteger next = new AtomicInteger();
  private final AtomicReference<IOException> failure = new AtomicReference<>();
  private final BooleanSupplier stop;
  private long deadline;

  private OffsetRunner(BlockDevice device, long[] offsets, int size, boolean write, BooleanSupplier stop) {
    this.device = device;
    this.offsets = offsets;
    this.size = size;
    this.write = write;
    this.stop = stop;
  }

  /**
   * Runs the requests and returns what they measured.
   *
   * @param budgetNanos time after which no new request starts
   * @param stop polled before each request: true ends the run early (Ctrl-C)
   * @throws IOException the first request that failed
   */
  public static RunStats run(BlockDevice device, long[] offsets, int size, int depth, boolean write, long budgetNanos,
      BooleanSupplier stop) throws IOException {
    if (depth < 1 || size < 1 || size > DirectBuffers.MAX_SIZE) {
      throw new IllegalArgumentException("depth " + depth + ", request size " + size
          + " (expected: depth >= 1, size 1 to " + DirectBuffers.MAX_SIZE + ")");
    }
    return new OffsetRunner(device, offsets, size, write, stop).run(depth, budgetNanos);
  }

  private RunStats run(int depth, long budgetNanos) throws IOException {
    CountDownLatch ready = new CountDownLatch(depth);
    CountDownLatch go = new CountDownLatch(1);
    List<Histogram> histograms = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    // Each worker's last completion time, kept apart so that no completion contends for a shared clock.
    long[] lastCompletions = new long[depth];
    for (int i = 0; i < depth; i++) {
      Histogram h = new Histogram(3);
      histograms.add(h);
      int slot = i;
      threads.add(Thread.ofPlatform().name("vdisk-matrix-" + i)
          .start(() -> lastCompletions[slot] = worker(h, ready, go)));
    }
    long start;
    try {
      ready.await();
      start = System.nanoTime();
      deadline = start + budgetNanos;
      go.countDown();
      for (Thread t : threads) {
        t.join();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("bench: interrupted");
    }
    if (failure.get() != null) {
      throw failure.get();
    }
    Histogram latency = new Histogram(3);
    histograms.forEach(latency::add);
    long done = latency.getTotalCount();
    long end = start;
    for (long t : lastCompletions) {
      end = Math.max(end, t);
    }
    return new RunStats(done, done * size, end - start, latency);
  }

  /** Sends requests until the run ends; returns when its last request completed (0 if it sent none). */
  private long worker(Histogram latency, CountDownLatch ready, CountDownLatch go) {
    ByteBuffer buf = DirectBuffers.aligned(size);
    while (buf.hasRemaining()) {
      buf.put(PATTERN);
    }
    ready.countDown();
    long last = 0;
    try {
      go.await();
      long now = System.nanoTime();
      while (now < deadline && failure.get() == null && !stop.getAsBoolean()) {
        int i = next.getAndIncrement();
        if (i >= offsets.length) {
          break;
        }
        buf.clear().limit(size);
        // The previous completion's clock read starts this request: one clock read per request instead of two (on
        // this project's VMs a read costs about 20 ns, 2% of a 4 KiB page-cache read); the latency then also holds
        // the loop's few nanoseconds of bookkeeping.
        long t0 = now;
        if (write) {
          device.write(offsets[i], buf, Set.of());
        } else {
          device.read(offsets[i], buf);
        }
        now = System.nanoTime();
        latency.recordValue(now - t0);
        last = now;
      }
    } catch (IOException e) {
      failure.compareAndSet(null, e);
    } catch (InterruptedException e) {
      failure.compareAndSet(null, new InterruptedIOException("bench: interrupted"));
    } catch (RuntimeException e) {
      // A broken device must stop the run, not hang it.
      failure.compareAndSet(null, new IOException("bench: " + e, e));
    }
    return last;
  }
}
