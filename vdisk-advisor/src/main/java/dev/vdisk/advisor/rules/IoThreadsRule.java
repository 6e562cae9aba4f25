package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Optional;

/** aio=threads (set or by default) where io_uring is available. */
final class IoThreadsRule implements Rule {
  @Override
  public String id() {
    return "io-threads";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "io threads (QEMU's default) where QEMU >= 5.0 and the host kernel offer io_uring: 4 KiB reads at depth"
        + " 16 under cache=none went from 57k IOPS (threads) to 85k (io_uring) on raw, 99k on qcow2 ("
        + Defaults.MEASURED + ")";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.local() || !Defaults.io(d).equals("threads")
        || !c.qemu().atLeast(5, 0) || !c.host().ioUring()) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        Defaults.shown(Setting.IO, d.io(), c) + (d.io() == null ? " (" + Defaults.IO_FACT + ")" : ""),
        "QEMU " + c.qemu().number() + " has aio=io_uring (since 5.0) and this kernel (" + c.host().kernel()
            + ") supports it: requests are submitted without a thread hand-off; 4 KiB reads at depth 16 with"
            + " cache=none: 57k IOPS threads, 85k io_uring (" + Defaults.MEASURED + ")",
        c.libvirt() ? "io='io_uring' (libvirt 6.3 or later)" : "aio=io_uring",
        Defaults.change(Setting.IO, "io_uring"), d));
  }
}
