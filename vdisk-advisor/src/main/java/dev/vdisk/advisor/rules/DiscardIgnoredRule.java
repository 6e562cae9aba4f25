package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import dev.vdisk.advisor.model.SourceKind;
import java.util.Optional;

/** A thin image (qcow2, or a sparse raw file) whose disk drops the guest's discards. */
final class DiscardIgnoredRule implements Rule {
  @Override
  public String id() {
    return "discard-ignored";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "discard not unmap on a thin image (qcow2, or a sparse raw file): " + Defaults.DISCARD_FACT
        + ", so space the guest frees is never returned to the host and the image only grows";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || d.kind() != SourceKind.FILE || Defaults.discardUnmap(d)) {
      return Optional.empty();
    }
    Optional<String> format = Defaults.format(d, c);
    boolean qcow2 = format.filter("qcow2"::equals).isPresent();
    boolean raw = format.orElse("raw").equals("raw");
    if (!qcow2 && !raw) {
      return Optional.empty();
    }
    if (raw && c.readableImage().map(i -> i.rawFullyAllocated()).orElse(false)) {
      return Optional.empty(); // a fully allocated raw file has nothing to give back until it is made sparse
    }
    String what = qcow2 ? "a qcow2 image" : c.readableImage().isPresent() ? "a sparse raw file"
        : "a raw file (thin unless fully allocated; --probe-images tells)";
    return Optional.of(new Finding(id(), severity(), d.name(),
        Defaults.shown(Setting.DISCARD, d.discard(), c) + " on " + what,
        Defaults.DISCARD_FACT + "; blocks the guest frees stay allocated in the image on the host",
        Defaults.written(Setting.DISCARD, "unmap", c) + " (and fstrim or the 'discard' mount option in the guest)",
        Defaults.change(Setting.DISCARD, "unmap"), d));
  }
}
