package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Optional;

/** detect_zeroes=unmap without discard=unmap: QEMU writes zeroes instead of unmapping. */
final class DetectZeroesUnmapRule implements Rule {
  @Override
  public String id() {
    return "detect-zeroes-unmap-without-discard";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "detect_zeroes unmap without discard unmap: QEMU unmaps detected zero writes only when the disk has"
        + " discard=unmap; otherwise it behaves as detect_zeroes=on (zero writes, no space returned)";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || !"unmap".equals(d.detectZeroes()) || Defaults.discardUnmap(d)) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        Defaults.shown(Setting.DETECT_ZEROES, d.detectZeroes(), c) + " with "
            + Defaults.shown(Setting.DISCARD, d.discard(), c),
        "detect-zeroes=unmap only unmaps when discard=unmap is set; here it acts as detect-zeroes=on",
        Defaults.written(Setting.DISCARD, "unmap", c), Defaults.change(Setting.DISCARD, "unmap"), d));
  }
}
