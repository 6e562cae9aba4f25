package dev.vdisk.cli;

import dev.vdisk.CheckListener;
import dev.vdisk.CheckReport;
import dev.vdisk.Image;
import dev.vdisk.Vdisk;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk check [-f fmt] [-U] [-q] [-r leaks|all] [--output=human|json] FILE}: qemu-img check's consistency
 * check, its text, JSON and exit status: 0 clean, 1 the check could not be completed, 2 corruptions, 3 leaks only,
 * 63 the format has no checks. Problems go to stderr one line each as they are found, in qemu-img's words; the
 * summary to stdout. Without {@code -r} the image is opened read-only and never written. With {@code -r} it is
 * opened for writing under QEMU's lock (so not while another process holds it, and not with {@code -U}), repaired
 * as qemu-img check -r repairs, and, if anything was fixed, checked again: qemu-img's "repaired" lines, then the
 * second check's summary with the fixed counts, and the exit status of the second check.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk check disk.qcow2", "  vdisk check -r leaks --output=json disk.qcow2"},
    description = "Check an image's metadata for consistency.")
final class CheckCommand implements Callable<Integer> {
  static final int EXIT_NOT_SUPPORTED = 63;

  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin OutputOption output;

  @Option(names = "-r", paramLabel = "leaks|all",
      description = "Repair: 'leaks' frees leaked clusters only; 'all' also fixes refcounts too low, COPIED flags, and rebuilds broken refcount structures.")
  String repair;

  @Option(names = "-q", description = "Quiet: print no summary, only problems and errors.")
  boolean quiet;

  @Option(names = "-T", paramLabel = "CACHE", defaultValue = "writeback",
      description = "Cache mode the image is read with (default: writeback).")
  String cache;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() throws IOException {
    Repair mode;
    try {
      mode = repair == null ? null : Repair.of(repair);
    } catch (IllegalArgumentException e) {
      throw new CliException(e.getMessage());
    }
    boolean json = output.json();
    PrintWriter err = main.err();
    PrintWriter out = main.out();
    checkBackingOpens();
    CheckListener listener = new CheckListener() {
      @Override
      public void problem(CheckProblem problem) {
        err.println(problem.message());
      }

      @Override
      public void repaired(CheckResult fixed) {
        if (!json && !quiet) {
          out.print("The following inconsistencies were found and repaired:\n\n    " + fixed.leaksFixed()
              + " leaked clusters\n    " + fixed.corruptionsFixed() + " corruptions\n\n"
              + "Double checking the fixed image now...\n");
          out.flush();
        }
      }
    };
    CheckReport report;
    try {
      report = image.check(file, CacheMode.parse(cache), mode, listener);
    } catch (UnsupportedOperationException e) {
      err.println(Main.errorLine("check", e.getMessage()));
      return EXIT_NOT_SUPPORTED;
    }
    CheckResult result = report.result();
    if (!quiet) {
      out.print(json ? Json.pretty(json(result, image.label(file), report.format())) + "\n" : human(result));
    }
    out.flush();
    if (report.verdict() == CheckReport.Verdict.CHECK_ERRORS) {
      err.println(Main.errorLine("check", "check failed: " + result.checkErrors()
          + " check errors (expected: none; parts of the image could not be checked)"));
    }
    return report.verdict().exitStatus();
  }

  /**
   * qemu-img check opens the image with its backing chain before checking, and fails (exit 1) where a backing image
   * cannot be opened; the check itself reads only the image's own metadata. An image that does not open even without
   * its backing image is left to the check, which reports its damage.
   */
  private void checkBackingOpens() {
    Exception failure;
    try (Image whole = image.openImage(file, true)) {
      return;
    } catch (IOException | RuntimeException e) {
      failure = e;
    }
    if (opensWithoutBacking()) {
      throw new CliException("Could not open '" + file + "': " + Main.describe(failure), failure);
    }
  }

  private boolean opensWithoutBacking() {
    try (Image alone = image.openImage(file, false)) {
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** qemu-img 7.2's JSON object: its members in the order QEMU prints them, zero counters left out as QEMU does. */
  static Map<String, Object> json(CheckResult r, String filename, String format) {
    Map<String, Object> m = new LinkedHashMap<>();
    putNonZero(m, "image-end-offset", r.imageEndOffset());
    putNonZero(m, "compressed-clusters", r.compressedClusters());
    putNonZero(m, "total-clusters", r.totalClusters());
    putNonZero(m, "corruptions", r.corruptions());
    putNonZero(m, "corruptions-fixed", r.corruptionsFixed());
    m.put("check-errors", r.checkErrors());
    putNonZero(m, "leaks", r.leaks());
    putNonZero(m, "leaks-fixed", r.leaksFixed());
    putNonZero(m, "allocated-clusters", r.allocatedClusters());
    m.put("filename", filename);
    m.put("format", format);
    putNonZero(m, "fragmented-clusters", r.fragmentedClusters());
    return m;
  }

  private static void putNonZero(Map<String, Object> m, String key, long value) {
    if (value != 0) {
      m.put(key, value);
    }
  }

  /** qemu-img 7.2's human summary. */
  static String human(CheckResult r) {
    StringBuilder s = new StringBuilder();
    if (r.corruptions() == 0 && r.leaks() == 0 && r.checkErrors() == 0) {
      s.append("No errors were found on the image.\n");
    } else {
      if (r.corruptions() > 0) {
        s.append('\n').append(r.corruptions()).append(" errors were found on the image.\n")
            .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
      }
      if (r.leaks() > 0) {
        s.append('\n').append(r.leaks()).append(" leaked clusters were found on the image.\n")
            .append("This means waste of disk space, but no harm to data.\n");
      }
      if (r.checkErrors() > 0) {
        s.append('\n').append(r.checkErrors()).append(" internal errors have occurred during the check.\n");
      }
    }
    if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
      s.append(r.allocatedClusters()).append('/').append(r.totalClusters()).append(" = ")
          .append(percent(r.allocatedClusters(), r.totalClusters())).append("% allocated, ")
          .append(percent(r.fragmentedClusters(), r.allocatedClusters())).append("% fragmented, ")
          .append(percent(r.compressedClusters(), r.allocatedClusters())).append("% compressed clusters\n");
    }
    if (r.imageEndOffset() != 0) {
      s.append("Image end offset: ").append(r.imageEndOffset()).append('\n');
    }
    return s.toString();
  }

  /** C's {@code %0.2f} of {@code part * 100.0 / whole}: the exact double rounded half to even, as glibc does. */
  static String percent(long part, long whole) {
    return ExactDecimal.fixed(part * 100.0 / whole, 2);
  }
}
