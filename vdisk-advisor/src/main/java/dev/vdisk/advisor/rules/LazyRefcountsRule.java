package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/** qcow2 without lazy refcounts under a cache mode that flushes every write. */
final class LazyRefcountsRule implements Rule {
  @Override
  public String id() {
    return "lazy-refcounts-writethrough";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "qcow2 with lazy_refcounts off under cache writethrough/directsync (probed): each allocating write also"
        + " writes and flushes refcount blocks; lazy_refcounts=on defers them (QEMU's docs name writethrough as the"
        + " case it helps), at the price of a refcount repair after a crash";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    boolean match = d.writable() && Defaults.writethrough(Defaults.cache(d))
        && c.probedQcow2().filter(i -> !i.lazyRefcounts()).isPresent();
    if (!match) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(), "lazy_refcounts off with cache='" + d.cache() + "'",
        "under writethrough every allocating write updates refcount blocks and flushes before it completes;"
            + " lazy_refcounts=on (compat 1.1 images) postpones refcount updates, and QEMU repairs them after an"
            + " unclean shutdown",
        "prefer a cache mode without a flush per write (see cache-writethrough); if writethrough must stay, with the"
            + " VM off: " + c.image().amendCommand("lazy_refcounts=on"), Map.of(), d));
  }
}
