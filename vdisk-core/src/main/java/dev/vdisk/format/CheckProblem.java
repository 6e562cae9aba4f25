package dev.vdisk.format;

/**
 * One problem a consistency check reported, in qemu-img check's words.
 *
 * @param kind what the problem counts as
 * @param message the line qemu-img check prints for it (on stderr), without the line break
 */
public record CheckProblem(Kind kind, String message) {
  /** How a problem is counted in the {@link CheckResult}. */
  public enum Kind {
    /** Metadata damage: counted in {@link CheckResult#corruptions()}. */
    CORRUPTION,
    /** A cluster whose refcount is higher than its references: counted in {@link CheckResult#leaks()}. */
    LEAK,
    /** Part of the image could not be checked: counted in {@link CheckResult#checkErrors()}. */
    CHECK_ERROR,
    /** A follow-up line (a hint, a repair step) that is not counted by itself. */
    NOTE
  }
}
