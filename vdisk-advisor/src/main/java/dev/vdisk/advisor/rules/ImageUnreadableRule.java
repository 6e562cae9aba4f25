package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/** A local image that could not be opened when probed. */
final class ImageUnreadableRule implements Rule {
  @Override
  public String id() {
    return "image-unreadable";
  }

  @Override
  public Severity severity() {
    return Severity.FAIL;
  }

  @Override
  public String summary() {
    return "a local image that does not exist or cannot be opened (probed): the VM cannot start with it";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (c.image() == null || c.image().readable()) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(), c.image().path() + ": " + c.image().error(),
        "QEMU opens every disk at start-up; an image it cannot open stops the VM from starting",
        "restore the image or correct the path", Map.of(), d));
  }
}
