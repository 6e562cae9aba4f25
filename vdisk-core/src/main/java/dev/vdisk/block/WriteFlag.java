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
  FAST_ZERO,
  /**
   * write only, where {@link Capabilities#compressedWrites()} is available: store the data compressed, in whole
   * {@link BlockLimits#compressionUnit() units} (qemu's BDRV_REQ_WRITE_COMPRESSED). A unit that does not get
   * smaller is stored uncompressed. The units must not be allocated yet (a qcow2 image refuses with EIO).
   */
  COMPRESSED;

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
