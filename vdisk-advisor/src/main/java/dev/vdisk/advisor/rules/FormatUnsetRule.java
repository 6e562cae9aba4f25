package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Map;
import java.util.Optional;

/** No image format declared: QEMU probes it from the image's bytes, which a guest controls on a raw disk. */
final class FormatUnsetRule implements Rule {
  @Override
  public String id() {
    return "format-unset";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "no image format declared: QEMU probes it from the first bytes, and a guest that writes a qcow2 header"
        + " to a raw disk changes what the next start opens (QEMU restricts writes to block 0 of probed raw images for"
        + " that reason) (warn); libvirt takes a missing driver type as raw without probing (note)";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || !d.local() || d.format() != null) {
      return Optional.empty();
    }
    Optional<String> probed = c.readableImage().map(i -> i.format());
    if (c.libvirt()) {
      if (probed.filter(f -> !f.equals("raw")).isPresent()) {
        return Optional.empty(); // libvirt presents it as raw: image-format-mismatch says so
      }
      return Optional.of(new Finding(id(), Severity.NOTE, d.name(), "<driver> without type",
          "libvirt treats a disk without a driver type as raw and does not probe it; saying so keeps every tool that"
              + " reads this XML from guessing", "type='raw'", Map.of(Setting.FORMAT, "raw"), d));
    }
    return Optional.of(new Finding(id(), Severity.WARN, d.name(), "format unset" + probed.map(f -> " (the image is " + f + ")").orElse(""),
        "QEMU probes the format from the image's first bytes; on a raw image a guest can write a qcow2 header there"
            + " and the next start would open the disk as qcow2 (possibly with a backing file of the guest's choosing)",
        Defaults.written(Setting.FORMAT, probed.orElse("raw"), c) + (probed.isPresent() ? "" : " if the image is raw (--probe-images checks)"),
        probed.map(f -> Map.of(Setting.FORMAT, f)).orElse(Map.of()), d));
  }
}
