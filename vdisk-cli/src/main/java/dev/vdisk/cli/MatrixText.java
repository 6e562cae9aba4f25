package dev.vdisk.cli;

import dev.vdisk.bench.matrix.CellResult;
import dev.vdisk.bench.matrix.ClaimAnswer;
import dev.vdisk.bench.matrix.MatrixReport;
import dev.vdisk.bench.matrix.PeerResult;
import dev.vdisk.bench.matrix.Verdict;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The human form of a matrix run: the seed's claims with their answers and evidence, the other verdicts by topic,
 * then one table row per layout and mode (the median of each workload; with a peer, vdisk/QEMU below it).
 */
final class MatrixText {
  private MatrixText() {}

  static String of(MatrixReport r) {
    StringBuilder s = new StringBuilder();
    s.append("The seed post's claims, answered by this run:\n");
    for (ClaimAnswer c : r.claims()) {
      s.append(String.format(Locale.ROOT, "  %-14s %s%n", "[" + c.answer() + "]", c.claim()));
      c.because().forEach(b -> s.append("                   - ").append(b).append('\n'));
    }
    Map<String, List<Verdict>> byTopic = new LinkedHashMap<>();
    r.verdicts().forEach(v -> byTopic.computeIfAbsent(v.topic(), t -> new java.util.ArrayList<>()).add(v));
    s.append("\nEvery verdict:\n");
    byTopic.forEach((topic, vs) -> {
      s.append("  ").append(topic).append(":\n");
      vs.forEach(v -> s.append("    - ").append(v.sentence()).append('\n'));
    });
    s.append("\nMedians over ").append(r.settings().repeats()).append(" repeats (IOPS for 4 KiB, MB/s for 1 MiB")
        .append(r.peer().isEmpty() ? "" : "; vdisk/QEMU ratio on the line below").append("):\n");
    List<String> workloads = r.workloads().stream().map(MatrixReport.WorkloadInfo::key).toList();
    s.append(String.format(Locale.ROOT, "%-15s %-13s", "layout", "mode"));
    workloads.forEach(w -> s.append(String.format(Locale.ROOT, " %17s", w)));
    s.append('\n');
    Map<String, Map<String, CellResult>> rows = new LinkedHashMap<>();
    r.cells().forEach(c -> rows.computeIfAbsent(c.layout() + "|" + c.mode(), k -> new LinkedHashMap<>()).put(c.workload(), c));
    rows.forEach((row, cells) -> {
      String[] lm = row.split("\\|");
      s.append(String.format(Locale.ROOT, "%-15s %-13s", lm[0], lm[1]));
      CellResult first = cells.values().iterator().next();
      if (first.error() != null) {
        s.append(' ').append(first.error()).append('\n');
        return;
      }
      workloads.forEach(w -> s.append(String.format(Locale.ROOT, " %17s", number(cells.get(w).result().median()))));
      s.append('\n');
      if (!r.peer().isEmpty()) {
        s.append(String.format(Locale.ROOT, "%-15s %-13s", "", "  vs QEMU"));
        workloads.forEach(w -> s.append(String.format(Locale.ROOT, " %17s", r.peer().stream()
            .filter(p -> p.layout().equals(lm[0]) && p.mode().equals(lm[1]) && p.workload().equals(w))
            .findFirst().map(PeerResult::ratio).map(x -> String.format(Locale.ROOT, "%.2fx", x)).orElse("-"))));
        s.append('\n');
      }
    });
    r.notes().forEach(n -> s.append("\nNote: ").append(n));
    s.append('\n');
    return s.toString();
  }

  private static String number(double v) {
    return String.format(Locale.ROOT, v >= 100 ? "%,.0f" : "%.1f", v);
  }
}
