package dev.vdisk;

import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;

/** Follows a {@link Vdisk#check} as it runs, for callers that show progress as qemu-img check does. */
public interface CheckListener {
  /**
   * Ignores everything. An anonymous class, not a lambda: every listener's initialisation initialises this interface
   * (it has a default method), and a lambda here would be spun at run time, outside the AOT cache, in every check.
   */
  CheckListener NONE = new CheckListener() {
    @Override
    public void problem(CheckProblem problem) {}
  };

  /** A problem, as soon as it is found. */
  void problem(CheckProblem problem);

  /** A repair fixed something ({@code fixed} holds its counts); the image is checked again next. */
  default void repaired(CheckResult fixed) {}
}
