package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/** The declared format is not the image's. */
final class FormatMismatchRule implements Rule {
  @Override
  public String id() {
    return "image-format-mismatch";
  }

  @Override
  public Severity severity() {
    return Severity.FAIL;
  }

  @Override
  public String summary() {
    return "the declared format differs from the image's (probed): qcow2 declared over a raw file fails to open;"
        + " raw declared (or libvirt's default raw) over a qcow2 file shows the guest the qcow2 metadata as its disk";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    Optional<ImageFacts> image = c.readableImage();
    String declared = d.format() != null ? d.format() : c.libvirt() ? "raw" : null;
    if (image.isEmpty() || declared == null || declared.equals(image.get().format())) {
      return Optional.empty();
    }
    String found = image.get().format();
    String reason = declared.equals("raw")
        ? "the guest sees the " + found + " file's metadata as its disk and its writes corrupt the image; or the"
            + " guest itself wrote a " + found + " header into a raw disk, and opening it as " + found
            + " would hand the guest's header (and any backing file it names) to QEMU"
        : "QEMU refuses to open a " + found + " file as " + declared;
    return Optional.of(new Finding(id(), severity(), d.name(),
        (d.format() == null ? "no type (libvirt: raw)" : "declared " + declared) + ", image " + image.get().path()
            + " is " + found,
        reason,
        "find out which is right (qemu-img info " + image.get().path() + "), then set the declared format to it;"
            + " never switch a raw disk to qcow2 on the image's word alone", Map.of(), d));
  }
}
