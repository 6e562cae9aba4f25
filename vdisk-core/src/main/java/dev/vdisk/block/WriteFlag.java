package dev.vdisk.block;

import java.util.EnumSet;
import java.util.Set;

/** Flags of {@link BlockDevice#write} and {@link BlockDevice#writeZeroes}. */
public enum WriteFlag {
  /** Force unit access: the written data is durable when the call returns. */
  FUA,
  /** writeZeroes only: the zeroed range may give its storage back (punch a hole, unmap). */
  MAY_TRIM,
  /** writeZeroes only: fail with ENOTSUP rather than write zeroes slowly. */
  FAST_ZERO;

  /** {@code flags} without {@link #FUA}: for layers that make writes durable some other way (or never). */
  public static Set<WriteFlag> withoutFua(Set<WriteFlag> flags) {
    if (!flags.contains(FUA)) {
      return flags;
    }
    EnumSet<WriteFlag> copy = EnumSet.noneOf(WriteFlag.class);
    copy.addAll(flags);
    copy.remove(FUA);
    return copy;
  }
}
