package dev.vdisk.io.linux;

/** The fallocate(2) modes vdisk uses, with the flag names that error messages print. */
public enum FallocateMode {
  /** Reserve blocks; grows the file if the range ends past EOF. */
  ALLOCATE(0, "ALLOCATE"),
  /** Reserve blocks without changing the file size. */
  ALLOCATE_KEEP_SIZE(FallocateMode.KEEP_SIZE, "ALLOCATE|KEEP_SIZE"),
  /** Deallocate: the range reads as zeroes and its blocks are freed (PUNCH_HOLE requires KEEP_SIZE). */
  PUNCH_HOLE(FallocateMode.KEEP_SIZE | 0x02, "PUNCH_HOLE"),
  /** Zero the range as unwritten extents; grows the file if the range ends past EOF. */
  ZERO_RANGE(0x10, "ZERO_RANGE"),
  /** Zero the range as unwritten extents without changing the file size. */
  ZERO_RANGE_KEEP_SIZE(0x10 | FallocateMode.KEEP_SIZE, "ZERO_RANGE|KEEP_SIZE");

  private static final int KEEP_SIZE = 0x01;

  final int flags;
  final String label;

  FallocateMode(int flags, String label) {
    this.flags = flags;
    this.label = label;
  }
}
