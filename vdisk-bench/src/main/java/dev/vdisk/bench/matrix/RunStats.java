package dev.vdisk.bench.matrix;

import org.HdrHistogram.Histogram;

/**
 * What one workload run measured.
 *
 * @param requests requests completed (all of them count for the rates)
 * @param bytes bytes they transferred
 * @param elapsedNanos from the start of the first request to the completion of the last
 * @param latency latency in nanoseconds of the timed requests, each counted with its sampling weight, so that its
 *     percentiles estimate those of all requests (HdrHistogram, 3 significant digits)
 * @param timed requests whose latency was measured
 * @param allOfFirst requests timed while the workers calibrated their sampling, all of them ({@link LatencySampling})
 * @param sampledOneIn then one request in this many was timed, at most (the largest interval a worker picked; 1 if
 *     every request was timed)
 */
public record RunStats(long requests, long bytes, long elapsedNanos, Histogram latency, long timed, long allOfFirst,
    int sampledOneIn) {

  /** Requests per second; 0 for a run that did nothing. */
  public double iops() {
    return elapsedNanos <= 0 ? 0 : requests * 1e9 / elapsedNanos;
  }

  /** Bytes per second; 0 for a run that did nothing. */
  public double bytesPerSecond() {
    return elapsedNanos <= 0 ? 0 : bytes * 1e9 / elapsedNanos;
  }

  /** The estimated latency at {@code percentile} (0 to 100) in microseconds; 0 if no request was timed. */
  public double latencyMicros(double percentile) {
    return latency.getTotalCount() == 0 ? 0 : latency.getValueAtPercentile(percentile) / 1000.0;
  }
}
