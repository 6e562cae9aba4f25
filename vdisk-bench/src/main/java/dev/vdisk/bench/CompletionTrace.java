package dev.vdisk.bench;

import java.io.PrintStream;
import java.util.Arrays;

/**
 * A diagnostic of bench's: the completions of one run counted per interval of its clock, so that the rate of its
 * first milliseconds can be told from the rest (JIT compilation, page faults on first touch, a device not yet
 * deep). Off unless the environment variable {@value #VARIABLE} gives an interval in milliseconds; then the run
 * prints, on standard error after it ends, one line per interval: its start (ms from the run's start and, to set it
 * beside {@code -Xlog:jit+compilation::timemillis} or {@code -Xlog:gc::timemillis}, the wall clock's
 * milliseconds since the epoch), the completions in it and their rate, and the CPU time the process's threads used
 * from its first completion to the next interval's ({@link ThreadCpu}: JIT compiler threads, garbage collector,
 * the others, and the others' per completion).
 * bench's own output is unchanged, and so is its measured path but for one array store per completion.
 *
 * <p>Not thread-safe: the runner calls {@link #completed} under its lock or from its one thread.
 */
final class CompletionTrace {
  /** The environment variable that turns the trace on: an interval in whole milliseconds, {@code >= 1}. */
  static final String VARIABLE = "VDISK_BENCH_INTERVALS";

  private final long intervalNanos;
  private long start;
  private long startEpochMillis;
  private int[] counts = new int[64];
  private ThreadCpu.Sample[] cpu = new ThreadCpu.Sample[64];
  private ThreadCpu.Sample cpuAtEnd;
  private int last = -1;

  CompletionTrace(long intervalMillis) {
    if (intervalMillis < 1) {
      throw new IllegalArgumentException("interval: " + intervalMillis + " ms (expected: >= 1)");
    }
    this.intervalNanos = intervalMillis * 1_000_000;
  }

  /**
   * The trace {@value #VARIABLE} asks for, or null when it is unset or empty.
   *
   * @throws IllegalArgumentException if it is set to anything but a whole number of milliseconds {@code >= 1}
   */
  static CompletionTrace fromEnvironment() {
    return parse(System.getenv(VARIABLE));
  }

  /** {@link #fromEnvironment} for the variable's value {@code value} (null where it is unset). */
  static CompletionTrace parse(String value) {
    if (value == null || value.isEmpty()) {
      return null;
    }
    long ms;
    try {
      ms = Long.parseLong(value);
    } catch (NumberFormatException e) {
      ms = 0;
    }
    if (ms < 1 || ms > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(VARIABLE + "=" + value + " (expected: an interval in milliseconds, >= 1)");
    }
    return new CompletionTrace(ms);
  }

  /** The run's clock starts at {@code nanos} ({@link System#nanoTime}), where the runner's measurement starts. */
  void started(long nanos) {
    start = nanos;
    startEpochMillis = System.currentTimeMillis();
  }

  /** One request completed at {@code nanos}. */
  void completed(long nanos) {
    int i = (int) Math.max(0, (nanos - start) / intervalNanos);
    if (i >= counts.length) { // the two arrays grow together
      counts = Arrays.copyOf(counts, Math.max(i + 1, counts.length * 2));
      cpu = Arrays.copyOf(cpu, counts.length);
    }
    if (counts[i]++ == 0) {
      cpu[i] = ThreadCpu.now();
    }
    last = Math.max(last, i);
  }

  /** Completions counted in interval {@code i} (0 is the first). */
  int count(int i) {
    return i < counts.length ? counts[i] : 0;
  }

  /** Number of intervals up to the last with a completion. */
  int intervals() {
    return last + 1;
  }

  /**
   * The run's last request completed: called then, while the runner's threads are alive (a thread that ended is
   * missing from a later {@link ThreadCpu} sample, and the last interval's CPU would come out negative).
   */
  void ended() {
    cpuAtEnd = ThreadCpu.now();
  }

  /** Prints one line per interval, as the class comment says. */
  void print(PrintStream err) {
    long ms = intervalNanos / 1_000_000;
    err.printf("bench intervals: %d ms each, the run started at %d ms since the epoch%n", ms, startEpochMillis);
    for (int i = 0; i <= last; i++) {
      err.printf("bench interval %6d ms (at %d): %7d completions, %9.0f per second", i * ms, startEpochMillis + i * ms,
          counts[i], counts[i] * 1000.0 / ms);
      if (cpu[i] != null) {
        ThreadCpu.Sample next = cpuAtEnd;
        for (int j = i + 1; j <= last; j++) {
          if (cpu[j] != null) {
            next = cpu[j];
            break;
          }
        }
        if (next != null) {
          ThreadCpu.Sample d = next.minus(cpu[i]);
          err.printf("; CPU ms: jit %.1f, gc %.1f, others %.1f (%.2f us per completion)", d.jit() / 1e6, d.gc() / 1e6,
              d.other() / 1e6, d.other() / 1e3 / counts[i]);
        }
      }
      err.println();
    }
  }
}
