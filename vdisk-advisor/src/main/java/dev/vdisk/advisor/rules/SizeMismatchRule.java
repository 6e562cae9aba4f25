package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/** A declared slice (offset and size) that reaches past the image's end. */
final class SizeMismatchRule implements Rule {
  @Override
  public String id() {
    return "image-size-mismatch";
  }

  @Override
  public Severity severity() {
    return Severity.FAIL;
  }

  @Override
  public String summary() {
    return "the declared disk size (libvirt's storage slice, raw's offset/size) reaches past the image's virtual size"
        + " (probed): QEMU refuses to open it";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    Optional<ImageFacts> image = c.readableImage();
    if (image.isEmpty() || d.sliceSize() == null) {
      return Optional.empty();
    }
    long offset = d.sliceOffset() == null ? 0 : d.sliceOffset();
    long end = offset + d.sliceSize();
    if (end <= image.get().virtualSize()) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        "declared offset " + offset + " + size " + d.sliceSize() + " = " + end + " bytes; image "
            + image.get().path() + " is " + image.get().virtualSize() + " bytes",
        "the raw driver refuses an offset and size that extend past the end of the file, so the disk does not open",
        "declare a size of at most " + (image.get().virtualSize() - offset) + " bytes, or grow the image first",
        Map.of(), d));
  }
}
