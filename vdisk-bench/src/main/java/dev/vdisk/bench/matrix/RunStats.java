package dev.vdisk.bench.matrix;

import org.HdrHistogram.Histogram;

/**
 * What one workload run measured.
 *
 * @param requests requests completed (all of them count for the rates)
 * @param bytes bytes they transferred
 * @param elapsedNanos from the start of the first request to the completion of the last
 * @param latency latency in nanoseconds of the timed requests, a random sample of about one in
 *     {@code sampleInterval} of the completed ones (HdrHistogram, 3 significant digits)
 * @param sampleInterval the run's {@link LatencySampling#interval}: 1 when every request was timed
 */
public record RunStats(long requests, long bytes, long elapsedNanos, Histogram latency, int sampleInterval) {

  /** Requests per second; 0 for a run that did nothing. */
  public double iops() {
    return elapsedNanos <= 0 ? 0 : requests * 1e9 / elapsedNanos;
  }

  /** Bytes per second; 0 for a run that did nothing. */
  public double bytesPerSecond() {
    return elapsedNanos <= 0 ? 0 : bytes * 1e9 / elapsedNanos;
  }

  /** Requests whose latency was measured. */
  public long timed() {
    return latency.getTotalCount();
  }

  /** The latency at {@code percentile} (0 to 100) of the timed requests in microseconds; 0 if none was timed. */
  public double latencyMicros(double percentile) {
    return latency.getTotalCount() == 0 ? 0 : latency.getValueAtPercentile(percentile) / 1000.0;
  }
}
