package dev.vdisk.advisor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Replacements at character positions of one text, applied together: every character outside them stays as it
 * was. Positions refer to the original text; edits must not overlap (insertions at one position keep their order).
 */
public final class Edits {
  private record Edit(int start, int end, String replacement, int order) {}

  private final List<Edit> edits = new ArrayList<>();

  /** Replaces {@code [start, end)} with {@code replacement}. */
  public void replace(int start, int end, String replacement) {
    edits.add(new Edit(start, end, replacement, edits.size()));
  }

  /** Inserts {@code text} at {@code at}. */
  public void insert(int at, String text) {
    replace(at, at, text);
  }

  /** True if nothing is to change. */
  public boolean isEmpty() {
    return edits.isEmpty();
  }

  /** {@code text} with the edits made. */
  public String applyTo(String text) {
    List<Edit> sorted = new ArrayList<>(edits);
    sorted.sort(Comparator.comparingInt(Edit::start).thenComparingInt(Edit::order));
    StringBuilder out = new StringBuilder(text.length() + 64);
    int at = 0;
    for (Edit e : sorted) {
      out.append(text, at, e.start()).append(e.replacement());
      at = e.end();
    }
    return out.append(text, at, text.length()).toString();
  }
}
