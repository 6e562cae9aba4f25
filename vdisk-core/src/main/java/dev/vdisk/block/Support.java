package dev.vdisk.block;

/** How a layer provides a feature. */
public enum Support {
  /** Not available: requests needing it fail, or (for advisory ones) do nothing. */
  NONE,
  /** Provided by a slower general mechanism (zeroes by writing, FUA by flushing). */
  EMULATED,
  /** Provided directly by the layer. */
  NATIVE;

  /** True unless {@link #NONE}. */
  public boolean available() {
    return this != NONE;
  }
}
