package dev.vdisk.advisor;

import dev.vdisk.advisor.facts.QemuVersion;
import dev.vdisk.advisor.rules.Finding;
import dev.vdisk.advisor.rules.Severity;
import java.util.ArrayList;
import java.util.List;

/** The human form: per input a heading, one aligned line per finding with its reason and fix below, a summary line. */
public final class ReportText {
  private ReportText() {}

  /** The text for {@code reports}, ending with the summary line. */
  public static String render(List<Report> reports, QemuVersion qemu) {
    StringBuilder s = new StringBuilder();
    s.append("QEMU ").append(qemu.number()).append(" (").append(qemu.source()).append(")\n");
    List<Finding> all = new ArrayList<>();
    for (Report r : reports) {
      all.addAll(r.findings());
    }
    int nameWidth = all.stream().mapToInt(f -> f.disk().length()).max().orElse(0);
    int ruleWidth = all.stream().mapToInt(f -> f.rule().length()).max().orElse(0);
    String indent = " ".repeat(2 + nameWidth + 2 + 4 + 2);
    for (Report r : reports) {
      s.append('\n').append(r.source()).append(": ").append(r.name() == null ? "" : "domain '" + r.name() + "', ")
          .append(r.disks() == 0 ? "no disks" : r.disks() == 1 ? "1 disk" : r.disks() + " disks").append('\n');
      for (Finding f : r.findings()) {
        s.append("  ").append(pad(f.disk(), nameWidth)).append("  ").append(pad(f.severity().word(), 4)).append("  ")
            .append(pad(f.rule(), ruleWidth)).append("  ").append(f.evidence()).append('\n');
        s.append(indent).append("why: ").append(f.reason()).append('\n');
        s.append(indent).append("fix: ").append(f.fix()).append(f.fixable() ? "" : " (not changed by --fix)").append('\n');
      }
    }
    return s.append('\n').append(summary(reports)).append('\n').toString();
  }

  /** {@code 3 findings: 1 fail, 2 warn} (severities without findings left out), or {@code no findings}. */
  public static String summary(List<Report> reports) {
    long total = reports.stream().mapToLong(r -> r.findings().size()).sum();
    if (total == 0) {
      return "no findings";
    }
    List<String> parts = new ArrayList<>();
    for (Severity sev : Severity.values()) {
      long n = reports.stream().mapToLong(r -> r.count(sev)).sum();
      if (n > 0) {
        parts.add(n + " " + sev.word());
      }
    }
    return total + (total == 1 ? " finding: " : " findings: ") + String.join(", ", parts);
  }

  private static String pad(String s, int width) {
    return s.length() >= width ? s : s + " ".repeat(width - s.length());
  }
}
