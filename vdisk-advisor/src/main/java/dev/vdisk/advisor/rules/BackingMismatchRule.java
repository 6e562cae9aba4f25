package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.model.BackingLayer;
import dev.vdisk.advisor.model.Disk;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The declared backing chain is not the one the image records. */
final class BackingMismatchRule implements Rule {
  @Override
  public String id() {
    return "image-backing-mismatch";
  }

  @Override
  public Severity severity() {
    return Severity.FAIL;
  }

  @Override
  public String summary() {
    return "the declared backing chain (libvirt's backingStore, -blockdev backing) differs from the chain the image"
        + " records (probed): the guest would read another disk's data under its own, or start without its base";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    Optional<ImageFacts> image = c.readableImage();
    if (image.isEmpty() || d.backing() == null) {
      return Optional.empty();
    }
    List<String> declared = d.backing().stream().map(BackingLayer::path).toList();
    List<String> recorded = image.get().backingChain();
    if (same(declared, recorded)) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        "declared backing " + (declared.isEmpty() ? "none" : String.join(" <- ", declared)) + "; image records "
            + (recorded.isEmpty() ? "none" : String.join(" <- ", recorded)),
        "QEMU opens the chain the configuration declares over the image; a different base serves the wrong data"
            + " for every cluster the overlay does not hold",
        "declare the chain the image records (qemu-img info --backing-chain " + image.get().path() + "), or drop the"
            + " declaration and let libvirt read it from the image", Map.of(), d));
  }

  private static boolean same(List<String> declared, List<String> recorded) {
    if (declared.size() > recorded.size()) {
      return false;
    }
    // A declaration may stop early (libvirt then reads the rest from the images); what it names must match.
    for (int i = 0; i < declared.size(); i++) {
      if (!Path.of(declared.get(i)).toAbsolutePath().normalize()
          .equals(Path.of(recorded.get(i)).toAbsolutePath().normalize())) {
        return false;
      }
    }
    return !declared.isEmpty() || recorded.isEmpty();
  }
}
