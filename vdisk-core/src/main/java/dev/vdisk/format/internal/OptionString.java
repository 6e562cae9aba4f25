package dev.vdisk.format.internal;

import java.util.LinkedHashMap;
import java.util.Map;

/** qemu-img's {@code -o key=value,key=value} option strings ({@code ,,} is a literal comma). */
public final class OptionString {
  private OptionString() {}

  /**
   * Parses {@code text} into keys and values in order; a later key overrides an earlier one, as in QEMU.
   *
   * @throws IllegalArgumentException for an entry without {@code =} or an empty key
   */
  public static Map<String, String> parse(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    if (text == null || text.isEmpty()) {
      return out;
    }
    StringBuilder cur = new StringBuilder();
    for (int i = 0; i <= text.length(); i++) {
      char c = i < text.length() ? text.charAt(i) : ',';
      if (c == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
        cur.append(',');
        i++;
      } else if (c == ',') {
        put(out, cur.toString());
        cur.setLength(0);
      } else {
        cur.append(c);
      }
    }
    return out;
  }

  private static void put(Map<String, String> out, String entry) {
    int eq = entry.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException("option: '" + entry + "' (expected: key=value)");
    }
    out.put(entry.substring(0, eq), entry.substring(eq + 1));
  }
}
