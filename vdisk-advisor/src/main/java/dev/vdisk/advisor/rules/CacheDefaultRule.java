package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Map;
import java.util.Optional;

/** No cache mode set: explained (writeback since QEMU 1.2), never mistaken for writethrough as the seed post did. */
final class CacheDefaultRule implements Rule {
  @Override
  public String id() {
    return "cache-default";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "cache unset: explains what QEMU uses (" + Defaults.CACHE_FACT + "); not a writethrough finding";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || d.cache() != null) {
      return Optional.empty();
    }
    boolean modern = c.qemu().atLeast(1, 2);
    return Optional.of(new Finding(id(), modern ? Severity.NOTE : Severity.WARN, d.name(),
        Defaults.shown(Setting.CACHE, null, c),
        (modern ? "QEMU " + c.qemu().number() + " uses writeback: writes go to the host page cache and reach the disk"
            + " when the guest flushes. " : "QEMU " + c.qemu().number() + " predates 1.2 and uses writethrough. ")
            + Defaults.CACHE_FACT,
        modern ? "nothing to do; cache='none' bypasses the host page cache (O_DIRECT) if host memory is better spent"
            + " elsewhere" : "cache='writeback' or cache='none'",
        Map.of(), d));
  }
}
