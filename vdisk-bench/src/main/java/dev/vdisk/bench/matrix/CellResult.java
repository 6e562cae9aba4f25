package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * One cell of the matrix: a workload on a layout under a cache mode, over all repeats.
 *
 * @param unit {@code IOPS} for the 4 KiB workloads, {@code MB/s} (10^6 bytes) for the 1 MiB ones
 * @param result the rate per repeat
 * @param latencyMicros p50, p99 and p99.9 of request latency in microseconds, each the median over the repeats, and
 *     how the requests were sampled for them
 * @param requests requests completed in the last repeat (a run ends early when its time budget is spent)
 * @param hostBytes bytes the image occupies on the host after the workload (last repeat); 0 on a block device
 * @param pageCache for read workloads: whether the host page cache served them; null for writes
 * @param error why the cell has no numbers (the mode cannot be used on this filesystem, a request failed); null
 *     when it has them
 */
@JsonPropertyOrder({"layout", "mode", "workload", "unit", "iops", "result", "latency-us", "requests", "host-bytes", "page-cache",
    "error"})
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CellResult(
    @JsonProperty("layout") String layout,
    @JsonProperty("mode") String mode,
    @JsonProperty("workload") String workload,
    @JsonProperty("unit") String unit,
    @JsonProperty("result") Samples result,
    @JsonProperty("latency-us") Latency latencyMicros,
    @JsonProperty("requests") long requests,
    @JsonProperty("host-bytes") long hostBytes,
    @JsonProperty("page-cache") String pageCache,
    @JsonProperty("error") String error) {

  /**
   * The median rate of an IOPS cell, the number {@code vdisk advise --bench} quotes; absent for MB/s cells and cells
   * without numbers.
   */
  @JsonProperty("iops")
  public Double iops() {
    return unit.equals("IOPS") && !result.isEmpty() ? result.median() : null;
  }

  /**
   * Request latency percentiles in microseconds, estimated from a random sample of the requests
   * ({@link LatencySampling}).
   *
   * @param allOfFirst the run timed every one of its first this many requests (its workers' first ones)
   * @param sampledOneIn then one request in this many at most, each counted that many times (1: every request)
   * @param timed requests timed in the last repeat
   */
  @JsonPropertyOrder({"p50", "p99", "p99.9", "all-of-first", "sampled-1-in", "timed"})
  public record Latency(@JsonProperty("p50") double p50, @JsonProperty("p99") double p99,
      @JsonProperty("p99.9") double p999, @JsonProperty("all-of-first") long allOfFirst,
      @JsonProperty("sampled-1-in") int sampledOneIn, @JsonProperty("timed") long timed) {}
}
