package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * The discard pass on one layout: a region written, flushed, then discarded with QEMU's {@code discard=unmap}
 * (the guest's discard reaches the image) and, after writing it again, with {@code discard=ignore} (QEMU drops the
 * guest's discard, so none reaches the image); the host's allocated bytes before and after each.
 *
 * @param region bytes written and discarded
 */
@JsonPropertyOrder({"layout", "region", "unmap", "ignore"})
public record DiscardResult(
    @JsonProperty("layout") String layout,
    @JsonProperty("region") long region,
    @JsonProperty("unmap") Space unmap,
    @JsonProperty("ignore") Space ignore) {

  /** Host bytes allocated before and after one discard. */
  @JsonPropertyOrder({"before", "after", "returned"})
  public record Space(@JsonProperty("before") long before, @JsonProperty("after") long after) {
    /** Bytes given back to the host (negative if the file grew). */
    @JsonProperty("returned")
    public long returned() {
      return before - after;
    }
  }
}
