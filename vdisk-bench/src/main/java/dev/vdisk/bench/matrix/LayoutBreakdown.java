package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * A layout's {@link SpaceBreakdown} at one stage of its first cell.
 *
 * @param stage {@link #CREATED} (the new image) or {@link #FIRST_WRITES} (after the first-write workloads)
 */
@JsonPropertyOrder({"layout", "stage", "breakdown"})
public record LayoutBreakdown(@JsonProperty("layout") String layout, @JsonProperty("stage") String stage,
    @JsonProperty("breakdown") SpaceBreakdown breakdown) {
  public static final String CREATED = "created";
  public static final String FIRST_WRITES = "after-first-writes";
}
