package dev.vdisk.cli;

import dev.vdisk.bench.matrix.MatrixRunner;
import java.io.PrintWriter;
import java.time.Duration;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The matrix's progress on standard error: on a terminal a bar (me.tongfei:progressbar) naming the step, with the
 * steps done and left and the ETA; otherwise one plain line per step with the same facts, for logs.
 */
abstract sealed class MatrixProgress implements MatrixRunner.Listener, AutoCloseable {

  /** A bar when standard input and output are a terminal, plain lines otherwise. */
  static MatrixProgress start(PrintWriter err) {
    java.io.Console console = System.console();
    return console != null && console.isTerminal() ? new Bar(err) : new Lines(err);
  }

  @Override
  public abstract void close();

  /** The bar, redrawn in place. */
  static final class Bar extends MatrixProgress {
    private final PrintWriter err;
    private ProgressBar bar;

    Bar(PrintWriter err) {
      this.err = err;
    }

    @Override
    public synchronized void step(String step, int done, int total) {
      if (bar == null) {
        bar = new ProgressBarBuilder().setTaskName("bench").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
            .setUpdateIntervalMillis(250).setConsumer(new DelegatingProgressBarConsumer(this::draw, 110)).build();
      }
      bar.maxHint(total);
      bar.stepTo(done);
      bar.setExtraMessage(step);
    }

    private void draw(String rendered) {
      synchronized (err) {
        err.print("\r" + rendered);
        err.flush();
      }
    }

    @Override
    public synchronized void close() {
      if (bar != null) {
        bar.close();
        err.println();
        err.flush();
        bar = null;
      }
    }
  }

  /** One line per step: {@code [3/75] raw-sparse writeback 1/3, ETA 0:01:20}. */
  static final class Lines extends MatrixProgress {
    private final PrintWriter err;
    private final long start = System.nanoTime();

    Lines(PrintWriter err) {
      this.err = err;
    }

    @Override
    public void step(String step, int done, int total) {
      String eta = "";
      if (done > 0) {
        long elapsed = System.nanoTime() - start;
        Duration left = Duration.ofNanos(elapsed / done * (total - done));
        eta = String.format(", ETA %d:%02d:%02d", left.toHours(), left.toMinutesPart(), left.toSecondsPart());
      }
      err.println("vdisk bench: [" + (done + 1) + "/" + total + "] " + step + eta);
      err.flush();
    }

    @Override
    public void close() {
      // Nothing to end: each line is complete.
    }
  }
}
