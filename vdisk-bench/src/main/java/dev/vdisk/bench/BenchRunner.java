package dev.vdisk.bench;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.HdrHistogram.Histogram;

/**
 * Issues qemu-img bench's request stream ({@link BenchSpec}) against a {@link BlockDevice} and measures it.
 *
 * <p>{@code depth} threads (platform threads unless the caller asks for virtual ones) each do synchronous I/O on
 * one 4 KiB-aligned direct buffer that all requests share ({@link #requestBuffers}). Requests are handed to idle
 * threads under one lock by a port of qemu-img's completion callback, so offsets go out in request order and flushes
 * come at exactly the points where qemu-img issues them. Flushes without drain run on one extra thread, beside the
 * requests, as QEMU's asynchronous flushes do. The first failure stops the run.
 *
 * <p>Where the device has an asynchronous queue ({@link RequestQueues#asynchronous}: a host file under {@code
 * aio=native}), one thread drives the whole depth instead, as qemu-img does: it queues requests, hands them to the
 * kernel together and waits once for the next completion ({@link QueuedBenchRunner}).
 */
public final class BenchRunner {
  private final BlockDevice device;
  private final BenchSpec spec;
  private final long imageSize;

  private final ReentrantLock lock = new ReentrantLock();
  /** The flusher waits here; each worker waits on its own condition, so a start wakes only the worker it needs. */
  private final Condition changed = lock.newCondition();
  // Guarded by lock; the names follow qemu-img's BenchData.
  private int notCompleted;
  private int inFlight;
  private long offset;
  private boolean held;
  private int pendingFlushes;
  private long flushes;
  private long endNanos;
  private IOException failure;
  private final ArrayDeque<Worker> idle = new ArrayDeque<>();
  /** The diagnostic per-interval count ({@link CompletionTrace}), or null (normally); guarded by lock. */
  private final CompletionTrace trace;

  private BenchRunner(BlockDevice device, BenchSpec spec, CompletionTrace trace) throws IOException {
    this.device = device;
    this.trace = trace;
    this.spec = spec;
    this.imageSize = device.size();
    this.notCompleted = spec.count();
    this.offset = spec.offset();
  }

  /**
   * Runs {@code spec} against {@code device} and returns the measurements.
   *
   * @throws IOException the first request or flush that failed; the run stops at it
   */
  public static BenchResult run(BlockDevice device, BenchSpec spec) throws IOException {
    return run(device, spec, Thread.ofPlatform());
  }

  /**
   * {@link #run(BlockDevice, BenchSpec)} with the request slots' threads made by {@code slots}: platform threads for
   * a device whose requests block the thread in a system call (a host file), virtual threads for one whose requests
   * park while a library completes them (RBD): those share a few carrier threads, and a completion then only wakes a
   * carrier that is idle, where each platform thread would need its own wake-up.
   */
  public static BenchResult run(BlockDevice device, BenchSpec spec, Thread.Builder slots) throws IOException {
    CompletionTrace trace = CompletionTrace.fromEnvironment();
    BenchResult result;
    try (RequestQueue queue = RequestQueues.asynchronous(device, spec.depth())) {
      result = queue != null ? QueuedBenchRunner.run(device, queue, spec, trace) : null;
    }
    if (result == null) {
      result = new BenchRunner(device, spec, trace).run(slots);
    }
    if (trace != null) {
      trace.print(System.err);
    }
    return result;
  }

  /**
   * Fills {@code buf} from its position to its limit with the byte {@code pattern} and leaves it at its limit: what
   * qemu-img's memset does to its request buffers before its clock starts. One bulk fill: a put per byte ran
   * interpreted until C1 compiled the loop, and the loop's compilations then ran into the measured requests (the 4 MiB
   * of four buffers for bench -d 4 -s 1M then).
   */
  static void fill(ByteBuffer buf, int pattern) {
    MemorySegment.ofBuffer(buf).fill((byte) pattern);
    buf.position(buf.limit());
  }

  /**
   * The buffers of {@code depth} requests of {@code spec}: views of one 4 KiB-aligned direct buffer (so an O_DIRECT
   * device needs no bounce buffer), carved from a huge page where the kernel has them ({@link
   * DirectBuffers#contiguous}: a 1 MiB request is then one segment for the disk), filled with the pattern ({@link
   * #fill}) and each at position 0 and limit of the request size. One buffer, as qemu-img bench: it sets up a buffer
   * per request in flight but its {@code bench_cb} passes the first to every request (seen with strace: 12 writes at
   * depth 4, one address). The count matters to page-cache writes, which copy their source: a 1 MiB source the
   * previous write used is in the CPU's L2 cache, four of them in turn are not (2026-12-06, 6,000 1 MiB writes at
   * depth 4 under writeback, alternating: 1.04-1.08 s with four buffers, 0.95-1.05 s with one, qemu-img io_uring
   * 0.94-1.07 s; the kernel's copy 1,732 against 1,433 samples for qemu-img's).
   */
  static ByteBuffer[] requestBuffers(int depth, BenchSpec spec) {
    ByteBuffer shared = DirectBuffers.contiguous(1, spec.bufferSize())[0];
    fill(shared, spec.pattern());
    ByteBuffer[] views = new ByteBuffer[depth];
    for (int i = 0; i < depth; i++) {
      views[i] = shared.duplicate().clear();
    }
    return views;
  }

  private BenchResult run(Thread.Builder slots) throws IOException {
    CountDownLatch go = new CountDownLatch(1);
    List<Worker> workers = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    ByteBuffer[] buffers = requestBuffers(spec.depth(), spec);
    for (int i = 0; i < spec.depth(); i++) {
      Worker w = new Worker(buffers[i]);
      workers.add(w);
      idle.add(w);
      threads.add(slots.name("vdisk-bench-" + i).unstarted(() -> w.run(go)));
    }
    Thread flusher = spec.flushInterval() > 0 && !spec.drain()
        ? Thread.ofPlatform().name("vdisk-bench-flush").unstarted(this::flusher) : null;
    threads.forEach(Thread::start);
    if (flusher != null) {
      flusher.start();
    }
    long start;
    lock.lock();
    try {
      // qemu-img starts the first `depth` requests before any can complete.
      fill();
      start = System.nanoTime();
      endNanos = start;
      if (trace != null) {
        trace.started(start);
      }
    } finally {
      lock.unlock();
    }
    go.countDown();
    try {
      for (Thread t : threads) {
        t.join();
      }
      if (flusher != null) {
        flusher.join();
      }
    } catch (InterruptedException e) {
      fail(new InterruptedIOException("bench: interrupted"));
      Thread.currentThread().interrupt();
    }
    lock.lock();
    try {
      if (failure != null) {
        throw failure;
      }
      Histogram latency = new Histogram(3);
      workers.forEach(w -> latency.add(w.latency));
      return new BenchResult(endNanos - start, spec.count(), (long) spec.count() * spec.bufferSize(), flushes, latency);
    } finally {
      lock.unlock();
    }
  }

  /**
   * qemu-img's submission loop: starts requests while some are left, fewer than {@code depth} are in flight
   * and no drained flush holds them back. Each goes to an idle worker with the next offset. Callers hold the
   * lock, so a completion and the start it allows happen in one step, as in qemu-img's callback: every
   * count of not-yet-started requests is seen by a completion, and no flush point is skipped.
   */
  private void fill() {
    while (notCompleted > inFlight && inFlight < spec.depth() && !held && !idle.isEmpty()) {
      Worker w = idle.poll();
      w.assigned = offset;
      w.hasRequest = true;
      inFlight++;
      offset = spec.nextOffset(offset, imageSize);
      w.wake.signal();
    }
    changed.signalAll();
    if (notCompleted <= inFlight) {
      wakeIdle();
    }
  }

  /** Wakes the workers without a request, so they see that the run is over (or failed) and stop. */
  private void wakeIdle() {
    idle.forEach(w -> w.wake.signal());
  }

  /**
   * Accounts for one completed request as qemu-img's {@code bench_cb} does, then starts what may start.
   * Returns whether the caller must now issue the drained flush (nothing is then in flight, and nothing
   * starts until the flush is done).
   */
  private boolean completed(Worker w, long now) {
    lock.lock();
    try {
      int notStarted = notCompleted - inFlight;
      notCompleted--;
      inFlight--;
      if (trace != null) {
        trace.completed(now);
      }
      if (notCompleted == 0) {
        endNanos = now;
        if (trace != null) {
          trace.ended();
        }
      }
      boolean flushNow = false;
      if (spec.flushInterval() > 0 && notStarted % spec.flushInterval() == 0) {
        if (spec.drain()) {
          held = true;
          flushNow = inFlight == 0;
        } else {
          pendingFlushes++;
        }
      }
      // First in line: the worker that just finished takes the next request itself, sparing a wake-up.
      idle.addFirst(w);
      fill();
      return flushNow;
    } finally {
      lock.unlock();
    }
  }

  private void drainedFlushDone() {
    lock.lock();
    try {
      flushes++;
      held = false;
      fill();
    } finally {
      lock.unlock();
    }
  }

  /** One request slot: a thread with its own view of the shared buffer and its own latency histogram. */
  private final class Worker {
    final Histogram latency = new Histogram(3);
    final Condition wake = lock.newCondition();
    final ByteBuffer buf;
    // Guarded by lock: set by fill(), taken by the worker.
    boolean hasRequest;
    long assigned;

    Worker(ByteBuffer buf) {
      this.buf = buf;
    }

    void run(CountDownLatch go) {
      try {
        go.await();
        while (serveOne()) {
          // each turn is one request
        }
      } catch (IOException e) {
        fail(e);
      } catch (InterruptedException e) {
        fail(new InterruptedIOException("bench: interrupted"));
      } catch (RuntimeException e) {
        // A broken device must stop the run, not leave the other workers waiting for this one.
        fail(new IOException("bench: " + e, e));
      }
    }

    /**
     * Waits for a request and makes it; false once there is none left (or the run failed). A method of its own so
     * that the JIT compiles it by its calls: run's loop is entered once, and ran in the interpreter until on-stack
     * replacement compiled it.
     */
    private boolean serveOne() throws IOException, InterruptedException {
      long at;
      lock.lock();
      try {
        // notCompleted - inFlight is the number of requests not yet started.
        while (failure == null && !hasRequest && notCompleted > inFlight) {
          wake.await();
        }
        if (failure != null || !hasRequest) {
          return false;
        }
        hasRequest = false;
        at = assigned;
      } finally {
        lock.unlock();
      }
      buf.clear().limit(spec.bufferSize());
      long t0 = System.nanoTime();
      if (spec.write()) {
        device.write(at, buf, Set.of());
      } else {
        device.read(at, buf);
      }
      long t1 = System.nanoTime();
      latency.recordValue(t1 - t0);
      if (completed(this, t1)) {
        device.flush();
        drainedFlushDone();
      }
      return true;
    }
  }

  /** Runs the flushes of a run without drain, one after another (QEMU serialises them as well). */
  private void flusher() {
    try {
      while (true) {
        lock.lock();
        try {
          while (failure == null && pendingFlushes == 0 && notCompleted > 0) {
            changed.await();
          }
          if (failure != null || pendingFlushes == 0) {
            return;
          }
          pendingFlushes--;
        } finally {
          lock.unlock();
        }
        device.flush();
        lock.lock();
        try {
          flushes++;
        } finally {
          lock.unlock();
        }
      }
    } catch (IOException e) {
      fail(e);
    } catch (InterruptedException e) {
      fail(new InterruptedIOException("bench: interrupted"));
    }
  }

  private void fail(IOException e) {
    lock.lock();
    try {
      if (failure == null) {
        failure = e;
      }
      changed.signalAll();
      wakeIdle();
    } finally {
      lock.unlock();
    }
  }
}
