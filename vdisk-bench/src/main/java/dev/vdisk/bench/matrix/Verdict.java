package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * One sentence computed from the run, with the numbers behind it in the sentence itself.
 *
 * @param topic {@code cache-modes}, {@code preallocation}, {@code metadata}, {@code discard} or {@code peer}
 * @param measurable false when the sentence says there is no measurable difference
 */
@JsonPropertyOrder({"topic", "sentence", "measurable"})
public record Verdict(@JsonProperty("topic") String topic, @JsonProperty("sentence") String sentence,
    @JsonProperty("measurable") boolean measurable) {}
