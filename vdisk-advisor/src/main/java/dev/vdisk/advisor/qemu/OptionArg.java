package dev.vdisk.advisor.qemu;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vdisk.advisor.AdviseException;
import dev.vdisk.advisor.Edits;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The argument of one {@code -drive}, {@code -device} or {@code -blockdev}: either QEMU's dotted
 * {@code key=value} list or a JSON object ({@code {...}} or {@code json:{...}}), read as one flat map of dotted keys
 * and changed key by key. A dotted argument keeps every other character; a JSON one is written back compactly, its
 * members in their order.
 */
final class OptionArg {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String text;
  private final List<QemuOpts.Item> items;
  private final ObjectNode json;
  private final String jsonPrefix;
  private final Map<String, String> flat = new LinkedHashMap<>();
  private final Map<String, String> changes = new LinkedHashMap<>();

  private OptionArg(String text, List<QemuOpts.Item> items, ObjectNode json, String jsonPrefix) {
    this.text = text;
    this.items = items;
    this.json = json;
    this.jsonPrefix = jsonPrefix;
    if (json != null) {
      flatten("", json);
    } else {
      flat.putAll(QemuOpts.map(items));
    }
  }

  /** Parses {@code text}; {@code impliedKey} as in {@link QemuOpts#parse}. */
  static OptionArg parse(String text, String impliedKey, String option) throws AdviseException {
    String trimmed = text.strip();
    if (trimmed.startsWith("{") || trimmed.startsWith("json:{")) {
      String prefix = trimmed.startsWith("json:") ? "json:" : "";
      try {
        JsonNode node = JSON.readTree(trimmed.substring(prefix.length()));
        if (node instanceof ObjectNode o) {
          return new OptionArg(text, null, o, prefix);
        }
      } catch (JsonProcessingException e) {
        throw new AdviseException(option + " " + text + ": not valid JSON (" + e.getOriginalMessage()
            + " at character " + e.getLocation().getCharOffset() + "; expected: a JSON object)", e);
      }
      throw new AdviseException(option + " " + text + ": not a JSON object (expected: {\"driver\": ...})");
    }
    return new OptionArg(text, QemuOpts.parse(text, impliedKey), null, null);
  }

  private void flatten(String prefix, JsonNode node) {
    for (Iterator<Map.Entry<String, JsonNode>> it = node.properties().iterator(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode v = e.getValue();
      String key = prefix + e.getKey();
      if (v.isObject()) {
        flatten(key + ".", v);
      } else if (v.isBoolean()) {
        flat.put(key, v.asBoolean() ? "on" : "off");
      } else if (v.isNull()) {
        flat.put(key, "null");
      } else {
        flat.put(key, v.asText());
      }
    }
  }

  /** The value of a dotted key, or null. Booleans read as on/off, JSON null as "null". */
  String get(String key) {
    return flat.get(key);
  }

  /** True if the key is present. */
  boolean has(String key) {
    return flat.containsKey(key);
  }

  /** The keys under {@code prefix} (prefix removed), for an inline child node. */
  Map<String, String> under(String prefix) {
    Map<String, String> m = new LinkedHashMap<>();
    flat.forEach((k, v) -> {
      if (k.startsWith(prefix)) {
        m.put(k.substring(prefix.length()), v);
      }
    });
    return m;
  }

  /** All keys and values. */
  Map<String, String> all() {
    return flat;
  }

  /** Records a change of {@code key} (added when absent). */
  void set(String key, String value) {
    changes.put(key, value);
  }

  /** True if a change was recorded. */
  boolean changed() {
    return !changes.isEmpty();
  }

  /** The argument with the recorded changes. */
  String text() {
    if (changes.isEmpty()) {
      return text;
    }
    if (json != null) {
      ObjectNode copy = json.deepCopy();
      changes.forEach((k, v) -> setJson(copy, k, v));
      return jsonPrefix + copy;
    }
    Edits edits = new Edits();
    StringBuilder appended = new StringBuilder();
    changes.forEach((k, v) -> {
      QemuOpts.Item last = items.stream().filter(i -> i.key().equals(k)).reduce((a, b) -> b).orElse(null);
      if (last != null && last.valueStart() < last.valueEnd()) {
        edits.replace(last.valueStart(), last.valueEnd(), QemuOpts.escape(v));
      } else if (last != null) {
        edits.insert(last.valueEnd(), "=" + QemuOpts.escape(v)); // a bare "key" meaning key=on
      } else {
        if (!appended.isEmpty() || !(text.isEmpty() || endsWithSeparator(text))) {
          appended.append(',');
        }
        appended.append(k).append('=').append(QemuOpts.escape(v));
      }
    });
    edits.insert(text.length(), appended.toString());
    return edits.applyTo(text);
  }

  /** True if {@code text} ends in a comma that separates (an odd run of commas: ",," is an escaped comma). */
  private static boolean endsWithSeparator(String text) {
    int commas = 0;
    for (int i = text.length() - 1; i >= 0 && text.charAt(i) == ','; i--) {
      commas++;
    }
    return commas % 2 == 1;
  }

  private static void setJson(ObjectNode root, String dotted, String value) {
    String[] parts = dotted.split("\\.");
    ObjectNode node = root;
    for (int i = 0; i < parts.length - 1; i++) {
      JsonNode next = node.get(parts[i]);
      node = next instanceof ObjectNode o ? o : node.putObject(parts[i]);
    }
    String last = parts[parts.length - 1];
    switch (value) {
      case "on" -> node.put(last, true);
      case "off" -> node.put(last, false);
      default -> {
        if (value.matches("\\d+")) {
          node.put(last, Long.parseLong(value));
        } else {
          node.put(last, value);
        }
      }
    }
  }
}
