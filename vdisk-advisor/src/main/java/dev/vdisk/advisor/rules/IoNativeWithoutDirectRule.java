package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Optional;

/** aio=native without O_DIRECT. */
final class IoNativeWithoutDirectRule implements Rule {
  @Override
  public String id() {
    return "io-native-without-direct";
  }

  @Override
  public Severity severity() {
    return Severity.FAIL;
  }

  @Override
  public String summary() {
    return "io native with a cache mode that does not use O_DIRECT (anything but none/directsync): Linux AIO is"
        + " only asynchronous on O_DIRECT files; QEMU 7.2 refuses to open the disk ('aio=native was specified, but it"
        + " requires cache.direct=on'), older versions fell back to blocking submissions";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!"native".equals(d.io()) || !d.local() || Defaults.direct(Defaults.cache(d))) {
      return Optional.empty();
    }
    boolean directOk = c.readableImage().map(i -> i.directIo()).orElse(true);
    String shownCache = Defaults.shown(Setting.CACHE, d.cache(), c)
        + (d.cache() == null ? " (writeback)" : "");
    return Optional.of(new Finding(id(), severity(), d.name(), Defaults.written(Setting.IO, "native", c) + " with " + shownCache,
        "Linux native AIO needs O_DIRECT; without it QEMU 7.2 refuses to start the disk with 'aio=native was"
            + " specified, but it requires cache.direct=on, which was not specified.'",
        directOk ? Defaults.written(Setting.CACHE, "none", c) + " (keeps native AIO)"
            : Defaults.written(Setting.IO, "threads", c) + " (the file system refuses O_DIRECT)",
        directOk ? Defaults.change(Setting.CACHE, "none")
            : Defaults.change(Setting.IO, "threads"), d));
  }
}
