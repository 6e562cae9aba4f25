package dev.vdisk.ops;

/**
 * Receives the progress of a long operation. Called from the operation's worker threads, possibly
 * concurrently, with {@code done} never decreasing across calls that happen one after another; must not
 * block for long.
 */
@FunctionalInterface
public interface Progress {
  /** Ignores every update. */
  Progress NONE = (done, total) -> {};

  /**
   * Reports how far the operation is.
   *
   * @param done units of work finished so far
   * @param total units of work in the whole operation (fixed for one operation)
   */
  void update(long done, long total);
}
