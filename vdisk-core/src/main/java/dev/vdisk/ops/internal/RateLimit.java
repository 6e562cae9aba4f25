package dev.vdisk.ops.internal;

import java.io.InterruptedIOException;
import java.util.concurrent.TimeUnit;

/**
 * qemu-img's {@code -r}: at most {@code bytesPerSecond} on average since the first bytes. Each {@link #await} waits
 * until the bytes accounted before it are due, so the first request goes at once and a long run keeps the rate.
 * Thread-safe: concurrent callers share one schedule.
 */
final class RateLimit {
  private final long bytesPerSecond;
  private final String op;
  private long start = -1;
  private long accounted;

  /**
   * @param bytesPerSecond the rate, above 0
   * @param op the operation, for the message of an interrupted wait
   */
  RateLimit(long bytesPerSecond, String op) {
    if (bytesPerSecond <= 0) {
      throw new IllegalArgumentException("rate limit: " + bytesPerSecond + " (expected: bytes per second above 0)");
    }
    this.bytesPerSecond = bytesPerSecond;
    this.op = op;
  }

  /** Waits until the bytes before these are due, then accounts {@code bytes}. */
  void await(long bytes) throws InterruptedIOException {
    long due;
    synchronized (this) {
      if (start < 0) {
        start = System.nanoTime();
      }
      due = start + (long) (accounted * 1e9 / bytesPerSecond);
      accounted += bytes;
    }
    long wait = due - System.nanoTime();
    if (wait > 0) {
      try {
        TimeUnit.NANOSECONDS.sleep(wait);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException(op + ": interrupted");
      }
    }
  }
}
