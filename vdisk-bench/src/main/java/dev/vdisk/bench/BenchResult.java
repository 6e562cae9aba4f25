package dev.vdisk.bench;

import org.HdrHistogram.Histogram;

/**
 * What a {@link BenchRunner} run measured.
 *
 * @param elapsedNanos from the first request's start to the last request's completion (like qemu-img
 *     bench, a flush still running after the last request completed is not counted)
 * @param requests requests completed
 * @param bytes bytes transferred by them
 * @param flushes flushes issued
 * @param latency per-request latency in nanoseconds, from start to completion (flushes not included)
 */
public record BenchResult(long elapsedNanos, long requests, long bytes, long flushes, Histogram latency) {

  public double seconds() {
    return elapsedNanos / 1e9;
  }

  /** Requests per second, 0 for a run that took no measurable time. */
  public double iops() {
    return elapsedNanos == 0 ? 0 : requests / seconds();
  }

  /** Bytes per second, 0 for a run that took no measurable time. */
  public double bytesPerSecond() {
    return elapsedNanos == 0 ? 0 : bytes / seconds();
  }
}
