package dev.vdisk.advisor;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.advisor.model.VmConfig;
import dev.vdisk.advisor.rules.Finding;
import dev.vdisk.advisor.rules.Severity;
import java.util.List;

/**
 * The findings for one input.
 *
 * @param input what was advised
 * @param findings per disk in the input's order, each disk's findings in rule order
 */
@JsonPropertyOrder({"source", "name", "disks", "findings"})
public record Report(@JsonIgnore Input input, @JsonProperty("findings") List<Finding> findings) {
  @JsonProperty("source")
  public String source() {
    return config().source();
  }

  @JsonProperty("name")
  public String name() {
    return config().name();
  }

  @JsonProperty("disks")
  public int disks() {
    return config().disks().size();
  }

  @JsonIgnore
  public VmConfig config() {
    return input.config();
  }

  /** How many findings have {@code severity}. */
  public long count(Severity severity) {
    return findings.stream().filter(f -> f.severity() == severity).count();
  }
}
