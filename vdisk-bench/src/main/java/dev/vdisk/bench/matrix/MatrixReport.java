package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;

/**
 * Everything one matrix run measured and concluded: the document of {@code --output=json} and the data of the
 * HTML report.
 *
 * @param notes what the reader needs to read the numbers (the page cache's part in reads, the peer's pattern)
 * @param peer the cells run through qemu-img bench too; empty without {@code --peer qemu}
 */
@JsonPropertyOrder({"machine", "settings", "workloads", "notes", "claims", "verdicts", "cells", "breakdowns", "discards",
    "peer"})
public record MatrixReport(
    @JsonProperty("machine") MachineFacts machine,
    @JsonProperty("settings") MatrixSettings settings,
    @JsonProperty("workloads") List<WorkloadInfo> workloads,
    @JsonProperty("notes") List<String> notes,
    @JsonProperty("claims") List<ClaimAnswer> claims,
    @JsonProperty("verdicts") List<Verdict> verdicts,
    @JsonProperty("cells") List<CellResult> cells,
    @JsonProperty("breakdowns") List<LayoutBreakdown> breakdowns,
    @JsonProperty("discards") List<DiscardResult> discards,
    @JsonProperty("peer") List<PeerResult> peer) {

  /** A workload's name and what it does, for readers of the JSON. */
  @JsonPropertyOrder({"key", "title", "request-size", "depth", "write"})
  public record WorkloadInfo(@JsonProperty("key") String key, @JsonProperty("title") String title,
      @JsonProperty("request-size") int requestSize, @JsonProperty("depth") int depth,
      @JsonProperty("write") boolean write) {

    static List<WorkloadInfo> all() {
      return java.util.Arrays.stream(Workload.values())
          .map(w -> new WorkloadInfo(w.key(), w.title(), w.requestSize(), w.depth(), w.write())).toList();
    }
  }
}
