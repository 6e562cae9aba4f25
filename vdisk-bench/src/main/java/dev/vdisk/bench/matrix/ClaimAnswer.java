package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;

/**
 * The answer this run gives to one of the seed post's four claims.
 *
 * @param topic the {@link Verdict#topic} whose sentences are the evidence
 * @param answer {@code supported}, {@code partly}, {@code not supported}, or {@code not measured} (the layouts or
 *     modes it needs were not in the run)
 * @param because the sentences that decided it
 */
@JsonPropertyOrder({"claim", "topic", "answer", "because"})
public record ClaimAnswer(@JsonProperty("claim") String claim, @JsonProperty("topic") String topic,
    @JsonProperty("answer") String answer, @JsonProperty("because") List<String> because) {

  public static final String SUPPORTED = "supported";
  public static final String PARTLY = "partly";
  public static final String NOT_SUPPORTED = "not supported";
  public static final String NOT_MEASURED = "not measured";
}
