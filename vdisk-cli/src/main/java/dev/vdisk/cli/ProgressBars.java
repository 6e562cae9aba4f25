package dev.vdisk.cli;

import dev.vdisk.ops.Progress;
import java.io.PrintWriter;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * {@code -p}: a progress bar (me.tongfei:progressbar) on standard error, fed by an operation's {@link Progress}
 * callback. Standard error rather than qemu-img's standard output, so that a bar never mixes with results
 * a script reads (compare's verdict). The bar is drawn from the first update on, with the total that update gives,
 * and never counts past it: the total a user sees does not change during the run. Closing it (once; again does
 * nothing) draws the final state and ends the line.
 */
final class ProgressBars implements Progress, AutoCloseable {
  private static final int WIDTH = 100;
  private static final long MIB = 1 << 20;

  private final String task;
  private final PrintWriter err;
  /** Made at the first update, when the total is known; null before. */
  private ProgressBar bar;
  private long shown;
  private boolean closed;

  private ProgressBars(String task, PrintWriter err) {
    this.task = task;
    this.err = err;
  }

  private ProgressBar bar(long total) {
    return new ProgressBarBuilder()
        .setTaskName(task)
        .setInitialMax(total)
        .setStyle(ProgressBarStyle.ASCII)
        .setUnit("MiB", MIB)
        .setUpdateIntervalMillis(200)
        .setConsumer(new DelegatingProgressBarConsumer(this::draw, WIDTH))
        .build();
  }

  /** A bar for {@code task} when {@code enabled}, else a callback that ignores updates. */
  static Progress start(String task, boolean enabled, PrintWriter err) {
    return enabled ? new ProgressBars(task, err) : Progress.NONE;
  }

  /** Ends {@code progress} if it is a bar. */
  static void finish(Progress progress) {
    if (progress instanceof ProgressBars p) {
      p.close();
    }
  }

  @Override
  public synchronized void update(long done, long total) {
    if (closed) {
      return;
    }
    if (bar == null) {
      bar = bar(total);
    }
    long capped = Math.min(done, bar.getMax());
    if (capped > shown) {
      shown = capped;
      bar.stepTo(capped);
    }
  }

  private void draw(String rendered) {
    synchronized (err) {
      err.print('\r');
      err.print(rendered);
      err.flush();
    }
  }

  /** Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (bar == null) {
      bar = bar(0);
    }
    bar.close();
    synchronized (err) {
      err.println();
      err.flush();
    }
  }
}
