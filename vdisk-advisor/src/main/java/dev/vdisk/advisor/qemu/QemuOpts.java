package dev.vdisk.advisor.qemu;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * QEMU's {@code key=value,key=value} option syntax ({@code -drive}, {@code -device}, dotted {@code -blockdev}):
 * a comma inside a value is written {@code ,,}; a first item without {@code =} is the implied key's value
 * ({@code -device virtio-blk-pci,...}); a later bare item is {@code key=on}. Keeps each value's position so one
 * value can be replaced without touching the rest.
 */
final class QemuOpts {
  /**
   * One item.
   *
   * @param key its key (dotted keys as written)
   * @param value its value, {@code ,,} undone
   * @param valueStart where the written value starts in the text
   * @param valueEnd where it ends
   */
  record Item(String key, String value, int valueStart, int valueEnd) {}

  private QemuOpts() {}

  /** The items of {@code text}; {@code impliedKey} names a leading bare value (null: it is a {@code key=on}). */
  static List<Item> parse(String text, String impliedKey) {
    List<Item> items = new ArrayList<>();
    int i = 0;
    while (i <= text.length()) {
      int end = itemEnd(text, i);
      String item = text.substring(i, end);
      int eq = item.indexOf('=');
      if (eq >= 0) {
        items.add(new Item(item.substring(0, eq), item.substring(eq + 1).replace(",,", ","), i + eq + 1, end));
      } else if (!item.isEmpty()) {
        if (items.isEmpty() && impliedKey != null) {
          items.add(new Item(impliedKey, item.replace(",,", ","), i, end));
        } else {
          items.add(new Item(item, "on", end, end));
        }
      }
      i = end + 1;
    }
    return items;
  }

  /** The items as a map, later keys winning as in QEMU. */
  static Map<String, String> map(List<Item> items) {
    Map<String, String> m = new LinkedHashMap<>();
    items.forEach(it -> m.put(it.key(), it.value()));
    return m;
  }

  /** Writes {@code value} as an option value: commas doubled. */
  static String escape(String value) {
    return value.replace(",", ",,");
  }

  private static int itemEnd(String text, int from) {
    int i = from;
    while (i < text.length()) {
      if (text.charAt(i) == ',') {
        if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
          i += 2;
          continue;
        }
        return i;
      }
      i++;
    }
    return text.length();
  }
}
