package dev.vdisk.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * For {@link CompletionTrace}: the CPU time this process's threads have used so far, from Linux's {@code
 * /proc/self/task/TID/schedstat} (nanoseconds on the CPU) and {@code comm}, summed by kind of thread: the JIT's
 * compiler threads, the garbage collector's, and all others (the runner's own among them). Reading it costs a
 * directory listing and two small files per thread: for diagnostics only.
 */
final class ThreadCpu {
  private static final Path TASKS = Path.of("/proc/self/task");

  /** CPU nanoseconds by kind; all 0 where {@code /proc} cannot be read (not Linux). */
  record Sample(long jit, long gc, long other) {
    Sample minus(Sample o) {
      return new Sample(jit - o.jit, gc - o.gc, other - o.other);
    }
  }

  private ThreadCpu() {}

  /** The CPU time of the threads alive now (threads that ended are missing from it). */
  static Sample now() {
    long jit = 0;
    long gc = 0;
    long other = 0;
    try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
      for (Path task : tasks) {
        long cpu;
        String name;
        try {
          String stat = Files.readString(task.resolve("schedstat"));
          cpu = Long.parseLong(stat.substring(0, stat.indexOf(' ')));
          name = Files.readString(task.resolve("comm")).strip();
        } catch (IOException | RuntimeException gone) {
          continue; // the thread ended meanwhile
        }
        if (name.contains("CompilerThre")) {
          jit += cpu;
        } else if (name.startsWith("GC ") || name.startsWith("G1 ")) {
          gc += cpu;
        } else {
          other += cpu;
        }
      }
    } catch (IOException | RuntimeException notLinux) {
      return new Sample(0, 0, 0);
    }
    return new Sample(jit, gc, other);
  }
}
