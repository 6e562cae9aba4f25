package dev.vdisk.bench;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.RequestQueue;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import org.HdrHistogram.Histogram;

/**
 * {@link BenchRunner}'s request stream from one thread on an asynchronous {@link RequestQueue}, as qemu-img bench
 * runs it under {@code aio=native}: the first {@code depth} requests are queued, then each round hands the queued ones
 * to the kernel, waits for at least one completion and queues as many new requests as completed (qemu-img's
 * {@code bench_cb}, request for request, flush points included). A flush is made by this thread between rounds: with
 * drain once nothing is in flight, without drain while the requests queued before it are in the kernel.
 */
final class QueuedBenchRunner {
  private final BlockDevice device;
  private final RequestQueue queue;
  private final BenchSpec spec;
  private final long imageSize;
  private final ByteBuffer[] buffers;
  private final long[] started;
  private final ArrayDeque<Integer> free = new ArrayDeque<>();
  private final Histogram latency = new Histogram(3);
  /** {@link #completed}, made once rather than at each reap. */
  private final RequestQueue.Completion onCompletion = this::completed;
  /** The diagnostic per-interval count, or null (normally). */
  private final CompletionTrace trace;
  // The names follow qemu-img's BenchData.
  private int notCompleted;
  private int inFlight;
  private long offset;
  private boolean held;
  private int pendingFlushes;
  private long flushes;
  private long endNanos;

  private QueuedBenchRunner(BlockDevice device, RequestQueue queue, BenchSpec spec, CompletionTrace trace)
      throws IOException {
    this.device = device;
    this.trace = trace;
    this.queue = queue;
    this.spec = spec;
    this.imageSize = device.size();
    this.notCompleted = spec.count();
    this.offset = spec.offset();
    int depth = Math.min(spec.depth(), queue.depth());
    // Filled, read buffers too, as qemu-img's memset before its clock starts: their pages are touched before the run,
    // not faulted in by its first requests.
    this.buffers = BenchRunner.requestBuffers(depth, spec);
    this.started = new long[depth];
    for (int i = 0; i < depth; i++) {
      free.add(i);
    }
  }

  /**
   * Runs {@code spec} on {@code queue}, a queue of {@code device} (which makes the flushes), counting completions
   * per interval into {@code trace} unless it is null.
   *
   * @throws IOException the first request or flush that failed; the run stops at it
   */
  static BenchResult run(BlockDevice device, RequestQueue queue, BenchSpec spec, CompletionTrace trace)
      throws IOException {
    return new QueuedBenchRunner(device, queue, spec, trace).run();
  }

  private BenchResult run() throws IOException {
    // The clock starts before the first requests go to the kernel, as qemu-img's starts before its first bench_cb.
    long start = System.nanoTime();
    endNanos = start;
    if (trace != null) {
      trace.started(start);
    }
    fill();
    // The last completions may still ask for a flush.
    while (notCompleted > 0 || held || pendingFlushes > 0) {
      round();
    }
    return new BenchResult(endNanos - start, spec.count(), (long) spec.count() * spec.bufferSize(), flushes, latency);
  }

  /**
   * One turn of the loop: a flush or a reap, then what it allows starts. A method of its own so that the JIT compiles
   * it by its calls: run's loop is entered once, and until on-stack replacement compiled it (which at depth 1 took
   * more iterations than a run has) it ran in the interpreter, request after request.
   */
  private void round() throws IOException {
    if (held && inFlight == 0) {
      device.flush();
      flushes++;
      held = false;
    } else if (pendingFlushes > 0) {
      queue.reap(0, onCompletion); // hands what is queued to the kernel before the flush waits
      device.flush();
      flushes++;
      pendingFlushes--;
    } else {
      queue.reap(1, onCompletion);
    }
    fill();
  }

  /** qemu-img's submission loop: queues requests while some are left, the depth allows and no drained flush holds. */
  private void fill() throws IOException {
    while (notCompleted > inFlight && !free.isEmpty() && !held) {
      int tag = free.poll();
      ByteBuffer buf = buffers[tag].clear().limit(spec.bufferSize());
      started[tag] = System.nanoTime();
      if (spec.write()) {
        queue.write(offset, buf, tag);
      } else {
        queue.read(offset, buf, tag);
      }
      inFlight++;
      offset = spec.nextOffset(offset, imageSize);
    }
  }

  /** One completion, accounted for as qemu-img's {@code bench_cb} does. */
  private void completed(int tag, IOException error) throws IOException {
    if (error != null) {
      throw error;
    }
    long now = System.nanoTime();
    latency.recordValue(now - started[tag]);
    if (trace != null) {
      trace.completed(now);
    }
    free.add(tag);
    int notStarted = notCompleted - inFlight;
    notCompleted--;
    inFlight--;
    if (notCompleted == 0) {
      endNanos = now;
      if (trace != null) {
        trace.ended();
      }
    }
    if (spec.flushInterval() > 0 && notStarted % spec.flushInterval() == 0) {
      if (spec.drain()) {
        held = true;
      } else {
        pendingFlushes++;
      }
    }
    // As bench_cb: the requests this completion allows start now, so the next completion sees them in flight.
    fill();
  }
}
