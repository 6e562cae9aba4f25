package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Optional;

/** cache=unsafe on a writable disk: the guest's flushes are ignored. */
final class CacheUnsafeRule implements Rule {
  @Override
  public String id() {
    return "cache-unsafe";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "cache unsafe on a writable disk: QEMU ignores the guest's flushes, so a host crash or power loss can lose"
        + " or corrupt data the guest was told is durable (fine for throw-away installs only)";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || !"unsafe".equals(d.cache())) {
      return Optional.empty();
    }
    String to = Defaults.fastSafeCache(c);
    return Optional.of(new Finding(id(), severity(), d.name(), Defaults.shown(Setting.CACHE, d.cache(), c),
        "QEMU acknowledges the guest's flushes without flushing: after a host crash the guest's file systems and"
            + " databases may find writes missing that they had made durable",
        Defaults.written(Setting.CACHE, to, c) + ", unless this disk is disposable", Defaults.change(Setting.CACHE, to), d));
  }
}
