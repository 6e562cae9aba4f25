package dev.vdisk.advisor;

import dev.vdisk.advisor.facts.BenchReport;
import dev.vdisk.advisor.facts.HostFacts;
import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.facts.ImageProbe;
import dev.vdisk.advisor.facts.QemuVersion;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.rules.Finding;
import dev.vdisk.advisor.rules.Rule;
import dev.vdisk.advisor.rules.RuleContext;
import dev.vdisk.advisor.rules.Rules;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Runs every rule over every disk of an input.
 *
 * @param qemu the QEMU version to judge against
 * @param host this host's facts
 * @param bench a measured report to quote, or null
 * @param prober reads a local image's facts ({@link ImageProbe#probe} for {@code --probe-images}), or null not to
 *     open images
 */
public record Advisor(QemuVersion qemu, HostFacts host, BenchReport bench, Function<Path, ImageFacts> prober) {
  /** The findings for {@code input}. */
  public Report advise(Input input) {
    List<Finding> findings = new ArrayList<>();
    for (Disk disk : input.config().disks()) {
      ImageFacts image = prober != null && disk.local() && disk.path() != null ? prober.apply(Path.of(disk.path())) : null;
      RuleContext context = new RuleContext(input.config(), qemu, host, bench, image, prober != null);
      for (Rule rule : Rules.all()) {
        rule.check(disk, context).ifPresent(findings::add);
      }
    }
    return new Report(input, findings);
  }
}
