package dev.vdisk.block;

/** Flags of {@link BlockDevice#write} and {@link BlockDevice#writeZeroes}. */
public enum WriteFlag {
  /** Force unit access: the written data is durable when the call returns. */
  FUA,
  /** writeZeroes only: the zeroed range may give its storage back (punch a hole, unmap). */
  MAY_TRIM,
  /** writeZeroes only: fail with ENOTSUP rather than write zeroes slowly. */
  FAST_ZERO
}
