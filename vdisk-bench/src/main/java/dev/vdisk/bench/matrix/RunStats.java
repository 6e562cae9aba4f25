package dev.vdisk.bench.matrix;

import org.HdrHistogram.Histogram;

/**
 * What one workload run measured.
 *
 * @param requests requests completed
 * @param bytes bytes they transferred
 * @param elapsedNanos from the start of the first request to the completion of the last
 * @param latency per-request latency in nanoseconds (HdrHistogram, 3 significant digits)
 */
public record RunStats(long requests, long bytes, long elapsedNanos, Histogram latency) {

  /** Requests per second; 0 for a run that did nothing. */
  public double iops() {
    return elapsedNanos <= 0 ? 0 : requests * 1e9 / elapsedNanos;
  }

  /** Bytes per second; 0 for a run that did nothing. */
  public double bytesPerSecond() {
    return elapsedNanos <= 0 ? 0 : bytes * 1e9 / elapsedNanos;
  }

  /** The latency at {@code percentile} (0 to 100) in microseconds; 0 for a run without requests. */
  public double latencyMicros(double percentile) {
    return latency.getTotalCount() == 0 ? 0 : latency.getValueAtPercentile(percentile) / 1000.0;
  }
}
