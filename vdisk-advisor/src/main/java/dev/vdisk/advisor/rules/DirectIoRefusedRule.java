package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/** cache=none or directsync on a file system that refuses O_DIRECT. */
final class DirectIoRefusedRule implements Rule {
  @Override
  public String id() {
    return "cache-none-no-odirect";
  }

  @Override
  public Severity severity() {
    return Severity.FAIL;
  }

  @Override
  public String summary() {
    return "cache none/directsync on a file system that refuses O_DIRECT (probed by opening the image with it; tmpfs"
        + " did before Linux 6.6): QEMU cannot open the disk";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (d.cache() == null || !Defaults.direct(d.cache())
        || c.readableImage().filter(i -> !i.directIo()).isEmpty()) {
      return Optional.empty();
    }
    String to = d.cache().equals("directsync") ? "writethrough" : "writeback";
    Map<Setting, String> changes = new EnumMap<>(Setting.class);
    changes.put(Setting.CACHE, to);
    if ("native".equals(d.io())) {
      changes.put(Setting.IO, "threads"); // native AIO needs O_DIRECT
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        "cache='" + d.cache() + "' on " + c.image().fsType() + ", which refused an O_DIRECT open of " + c.image().path(),
        "cache=" + d.cache() + " opens the image with O_DIRECT; this file system refuses it, so QEMU fails to open the"
            + " disk (tmpfs refused O_DIRECT before Linux 6.6)",
        Defaults.written(Setting.CACHE, to, c) + (changes.containsKey(Setting.IO) ? " and " + Defaults.written(Setting.IO, "threads", c) : ""), changes, d));
  }
}
