package dev.vdisk.format;

/** What {@code check -r} may fix, with qemu-img's spellings ({@code BdrvCheckMode}). */
public enum Repair {
  /** {@code -r leaks}: refcounts higher than the references are lowered; nothing else changes. */
  LEAKS,
  /** {@code -r all}: leaks, refcounts too low, COPIED flags, and a rebuild of broken refcount structures. */
  ALL;

  /** The mode for a {@code -r} argument. */
  public static Repair of(String arg) {
    return switch (arg) {
      case "leaks" -> LEAKS;
      case "all" -> ALL;
      default -> throw new IllegalArgumentException("-r " + arg + ": unknown repair mode (expected: leaks or all)");
    };
  }

  /** True if the mode fixes corruptions too, not only leaks. */
  public boolean fixesErrors() {
    return this == ALL;
  }
}
