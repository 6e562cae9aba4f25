package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.SourceKind;
import java.util.Map;
import java.util.Optional;

/** Says which disks --probe-images could not look at (network and pool volumes), so silence is not taken for a pass. */
final class SourceNotProbedRule implements Rule {
  @Override
  public String id() {
    return "source-not-probed";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "with --probe-images, a network (rbd, nbd, iscsi, gluster...) or pool-volume source: not opened, so the"
        + " rules that need the image's facts did not run for it";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!c.probing() || (d.kind() != SourceKind.NETWORK && d.kind() != SourceKind.VOLUME)) {
      return Optional.empty();
    }
    String what = d.kind() == SourceKind.NETWORK ? d.protocol() + " source " + d.path() : "pool volume " + d.path();
    return Optional.of(new Finding(id(), severity(), d.name(), what,
        "vdisk opens local files and block devices only; image facts (format, size, allocation) are unknown here",
        "check the image on its storage (for example qemu-img info on the host that serves it)", Map.of(), d));
  }
}
