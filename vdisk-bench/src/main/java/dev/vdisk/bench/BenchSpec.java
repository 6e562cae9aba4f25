package dev.vdisk.bench;

import dev.vdisk.io.internal.DirectBuffers;

/**
 * One run of qemu-img bench's workload: {@code count} requests of {@code bufferSize} bytes, {@code depth}
 * of them in flight, the n-th at the offset that qemu-img bench would give it.
 *
 * <p>Every request takes the current offset; then the offset advances by {@code step} and wraps modulo the
 * image size ({@link #nextOffset}). That is QEMU 7.2's rule, checked against {@code qemu-img bench} by
 * tracing its system calls: a request whose offset plus {@code bufferSize} passes the end fails, and so does
 * the run, as in QEMU 7.2.
 *
 * <p>With a {@code flushInterval} N, a flush is due each time a request completes while the number of
 * requests not yet started is a multiple of N (so also once at the end): qemu-img's {@code bench_cb}
 * cadence. With {@code drain}, no request starts between that point and the completion of the flush, and
 * the flush starts only when nothing is in flight; without it the flush runs alongside the requests.
 *
 * @param count requests to issue, {@code >= 0}
 * @param depth requests in flight at once, {@code >= 1}
 * @param bufferSize bytes per request, 0 to {@link DirectBuffers#MAX_SIZE}
 * @param step bytes the offset advances per request, {@code >= 0}
 * @param offset offset of the first request, {@code >= 0}
 * @param write write the pattern instead of reading
 * @param pattern the byte written by write requests, 0 to 255
 * @param flushInterval requests between flushes, 0 for no flushes; otherwise write only and {@code >= depth}
 * @param drain finish in-flight requests before a flush and start new ones only after it
 */
public record BenchSpec(
    int count, int depth, int bufferSize, long step, long offset, boolean write, int pattern, int flushInterval,
    boolean drain) {

  /** qemu-img bench's defaults: 75000 reads of 4 KiB, 64 in flight, from offset 0, step = buffer size. */
  public static final BenchSpec DEFAULTS = new BenchSpec(75000, 64, 4096, 4096, 0, false, 0, 0, true);

  /** @throws IllegalArgumentException naming the first value qemu-img bench would refuse too */
  public BenchSpec {
    if (count < 0) {
      throw new IllegalArgumentException("request count: " + count + " (expected: >= 0)");
    }
    if (depth < 1) {
      throw new IllegalArgumentException("queue depth: " + depth + " (expected: >= 1)");
    }
    if (bufferSize < 0 || bufferSize > DirectBuffers.MAX_SIZE) {
      throw new IllegalArgumentException("buffer size: " + bufferSize + " (expected: 0 to " + DirectBuffers.MAX_SIZE + ")");
    }
    if (step < 0 || offset < 0) {
      throw new IllegalArgumentException("step " + step + ", offset " + offset + " (expected: both >= 0)");
    }
    if (pattern < 0 || pattern > 255) {
      throw new IllegalArgumentException("pattern byte: " + pattern + " (expected: 0 to 255)");
    }
    if (flushInterval < 0) {
      throw new IllegalArgumentException("flush interval: " + flushInterval + " (expected: >= 0)");
    }
    if (flushInterval > 0 && !write) {
      throw new IllegalArgumentException("flush interval: " + flushInterval + " in a read test (expected: write tests only)");
    }
    if (flushInterval > 0 && flushInterval < depth) {
      throw new IllegalArgumentException(
          "flush interval: " + flushInterval + " is smaller than the queue depth " + depth + " (expected: >= " + depth + ")");
    }
  }

  public BenchSpec withCount(int n) {
    return new BenchSpec(n, depth, bufferSize, step, offset, write, pattern, flushInterval, drain);
  }

  public BenchSpec withDepth(int n) {
    return new BenchSpec(count, n, bufferSize, step, offset, write, pattern, flushInterval, drain);
  }

  /** Sets the buffer size; the step follows it, as qemu-img's does when {@code -S} is not given. */
  public BenchSpec withBufferSize(int n) {
    return new BenchSpec(count, depth, n, n, offset, write, pattern, flushInterval, drain);
  }

  public BenchSpec withStep(long n) {
    return new BenchSpec(count, depth, bufferSize, n, offset, write, pattern, flushInterval, drain);
  }

  public BenchSpec withOffset(long n) {
    return new BenchSpec(count, depth, bufferSize, step, n, write, pattern, flushInterval, drain);
  }

  public BenchSpec withWrite(boolean w) {
    return new BenchSpec(count, depth, bufferSize, step, offset, w, pattern, flushInterval, drain);
  }

  public BenchSpec withPattern(int p) {
    return new BenchSpec(count, depth, bufferSize, step, offset, write, p, flushInterval, drain);
  }

  public BenchSpec withFlushInterval(int n) {
    return new BenchSpec(count, depth, bufferSize, step, offset, write, pattern, n, drain);
  }

  public BenchSpec withDrain(boolean d) {
    return new BenchSpec(count, depth, bufferSize, step, offset, write, pattern, flushInterval, d);
  }

  /**
   * The offset of the request after one at {@code current} on an image of {@code imageSize} bytes:
   * {@code (current + step) % imageSize}, or 0 on an empty image (where QEMU 7.2 divides by zero).
   */
  public long nextOffset(long current, long imageSize) {
    if (imageSize == 0) {
      return 0;
    }
    // Both terms are below 2^63, so the sum cannot wrap past 2^64: remainderUnsigned is exact.
    return Long.remainderUnsigned(current + step, imageSize);
  }
}
