package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import java.util.Optional;

/**
 * One check of a disk's configuration. Implementations are stateless; each states the fact it rests on in
 * {@link #summary()} and in every finding's reason, with the QEMU version it depends on.
 */
public interface Rule {
  /** A stable identifier, kebab-case. */
  String id();

  /** The severity of its findings (the highest, where it depends on the version). */
  Severity severity();

  /** One sentence for {@code --list-rules}: what it flags and why. */
  String summary();

  /** A finding for {@code disk}, or none. */
  Optional<Finding> check(Disk disk, RuleContext context);
}
