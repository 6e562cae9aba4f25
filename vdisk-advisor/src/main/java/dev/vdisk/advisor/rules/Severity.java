package dev.vdisk.advisor.rules;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** How much a finding matters: fail (broken or unsafe: exit 1), warn (slow or leaking space), note (worth knowing). */
public enum Severity {
  FAIL,
  WARN,
  NOTE;

  /** fail, warn or note. */
  @JsonValue
  public String word() {
    return name().toLowerCase(Locale.ROOT);
  }
}
