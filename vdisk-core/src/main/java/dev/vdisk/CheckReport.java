package dev.vdisk;

import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import java.util.List;
import java.util.Optional;

/**
 * What {@link Vdisk#check} found, and for a repair what it fixed: qemu-img check's counters, verdict and problems.
 *
 * @param format the format the image was checked as
 * @param result the final check's counters; after a repair that fixed something, the second check's, with the
 *     repair's fixed counts (as qemu-img reports them)
 * @param problems every problem reported, in order (a repair's first pass, then the second check's)
 * @param repair the repair pass's own result (its fixed counts), empty for a plain check
 */
public record CheckReport(String format, CheckResult result, List<CheckProblem> problems, Optional<CheckResult> repair) {
  /** qemu-img check's verdicts, with its exit statuses. */
  public enum Verdict {
    /** No errors: exit 0. */
    CLEAN(0),
    /** Parts of the image could not be checked: exit 1. */
    CHECK_ERRORS(1),
    /** Corruptions remain: exit 2. */
    CORRUPTIONS(2),
    /** Only leaked clusters remain: exit 3. */
    LEAKS(3);

    private final int exitStatus;

    Verdict(int exitStatus) {
      this.exitStatus = exitStatus;
    }

    /** qemu-img check's exit status for this verdict. */
    public int exitStatus() {
      return exitStatus;
    }
  }

  /** Copies {@code problems}. */
  public CheckReport {
    problems = List.copyOf(problems);
  }

  /** The verdict: check errors first, then corruptions, then leaks, as qemu-img decides its exit status. */
  public Verdict verdict() {
    if (result.checkErrors() > 0) {
      return Verdict.CHECK_ERRORS;
    }
    return result.corruptions() > 0 ? Verdict.CORRUPTIONS : result.leaks() > 0 ? Verdict.LEAKS : Verdict.CLEAN;
  }
}
