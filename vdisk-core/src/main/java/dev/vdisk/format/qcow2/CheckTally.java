package dev.vdisk.format.qcow2;

import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckProblem.Kind;
import dev.vdisk.format.CheckResult;
import java.util.function.Consumer;

/**
 * The running counters of one check and where its problem lines go. Problem lines use QEMU's own words and
 * formats (hex without a prefix where QEMU prints {@code %PRIx64}), so that scripts reading qemu-img check's
 * stderr read vdisk's too.
 */
final class CheckTally {
  private final Consumer<CheckProblem> problems;
  long checkErrors;
  long corruptions;
  long leaks;
  long allocatedClusters;
  long fragmentedClusters;
  long compressedClusters;
  long corruptionsFixed;
  long leaksFixed;

  CheckTally(Consumer<CheckProblem> problems) {
    this.problems = problems;
  }

  /** A copy of the counters (same problem sink): QEMU's {@code BdrvCheckResult} saved by value. */
  CheckTally copy() {
    CheckTally c = new CheckTally(problems);
    c.restore(this);
    return c;
  }

  /** Sets every counter to {@code saved}'s. */
  void restore(CheckTally saved) {
    checkErrors = saved.checkErrors;
    corruptions = saved.corruptions;
    leaks = saved.leaks;
    allocatedClusters = saved.allocatedClusters;
    fragmentedClusters = saved.fragmentedClusters;
    compressedClusters = saved.compressedClusters;
    corruptionsFixed = saved.corruptionsFixed;
    leaksFixed = saved.leaksFixed;
  }

  /** Reports {@code line} and counts a corruption. */
  void corruption(String line) {
    problems.accept(new CheckProblem(Kind.CORRUPTION, line));
    corruptions++;
  }

  /** Reports {@code line} and counts a leak. */
  void leak(String line) {
    problems.accept(new CheckProblem(Kind.LEAK, line));
    leaks++;
  }

  /** Reports {@code line} and counts a check error. */
  void checkError(String line) {
    problems.accept(new CheckProblem(Kind.CHECK_ERROR, line));
    checkErrors++;
  }

  /**
   * Reports {@code line}, a problem of {@code kind}, without counting it: for problems counted (or fixed) only once
   * the caller knows what became of them.
   */
  void report(Kind kind, String line) {
    problems.accept(new CheckProblem(kind, line));
  }

  /** Reports {@code line} without counting it (QEMU's follow-up hints). */
  void note(String line) {
    problems.accept(new CheckProblem(Kind.NOTE, line));
  }

  CheckResult result(long imageEndOffset, long totalClusters) {
    return new CheckResult(checkErrors, corruptions, leaks, imageEndOffset, totalClusters, allocatedClusters,
        fragmentedClusters, compressedClusters, corruptionsFixed, leaksFixed);
  }

  static String hex(long v) {
    return Long.toHexString(v);
  }
}
