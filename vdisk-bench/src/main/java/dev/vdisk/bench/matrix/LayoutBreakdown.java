package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/** A layout's {@link SpaceBreakdown} after the first-write workloads. */
@JsonPropertyOrder({"layout", "breakdown"})
public record LayoutBreakdown(@JsonProperty("layout") String layout, @JsonProperty("breakdown") SpaceBreakdown breakdown) {}
