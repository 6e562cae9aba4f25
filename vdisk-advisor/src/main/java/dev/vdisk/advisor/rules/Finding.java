package dev.vdisk.advisor.rules;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a rule found on one disk.
 *
 * @param rule the rule's id
 * @param severity how much it matters
 * @param disk the disk's name
 * @param evidence what the configuration or the image says, quoted
 * @param reason why it matters, with the fact behind it
 * @param fix the change that fixes it, in words (also when {@code --fix} cannot make it)
 * @param changes the settings {@code --fix} changes, in the configuration's own syntax; empty when the fix is not a
 *     configuration edit (an image to convert, a bus to change in the guest)
 * @param target the disk it is about, for the fixer
 */
@JsonPropertyOrder({"rule", "severity", "disk", "evidence", "reason", "fix", "fixable", "changes"})
public record Finding(
    @JsonProperty("rule") String rule,
    @JsonProperty("severity") Severity severity,
    @JsonProperty("disk") String disk,
    @JsonProperty("evidence") String evidence,
    @JsonProperty("reason") String reason,
    @JsonProperty("fix") String fix,
    @JsonIgnore Map<Setting, String> changes,
    @JsonIgnore Disk target) {

  public Finding {
    changes = Collections.unmodifiableMap(new LinkedHashMap<>(changes));
  }

  /** True if {@code --fix} makes the change itself. */
  @JsonProperty("fixable")
  public boolean fixable() {
    return !changes.isEmpty();
  }

  /** The changes keyed by the neutral setting names (cache, io, discard, detect_zeroes, type, l2-cache-size). */
  @JsonProperty("changes")
  public Map<String, String> changesByName() {
    Map<String, String> m = new LinkedHashMap<>();
    changes.forEach((k, v) -> m.put(k.xmlAttribute() != null ? k.xmlAttribute() : k.driveKey(), v));
    return m;
  }
}
