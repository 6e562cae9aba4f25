package dev.vdisk.bench.matrix;

/**
 * Two measurements of the same quantity (higher is better) and whether they differ by more than the noise.
 *
 * <p>The noise is the larger of the two spreads across repeats ({@link Samples#spread}), and at least
 * {@link #MIN_NOISE}, since two or three repeats underestimate it. A difference is measurable only when the ratio of
 * the medians leaves that band <em>and</em> the ranges of the repeats do not overlap: every repeat of one side beat
 * every repeat of the other.
 *
 * @param a the side the sentence is about
 * @param b the side it is compared with
 */
public record Comparison(Samples a, Samples b) {
  /** The smallest relative difference that counts as measurable, whatever the repeats say. */
  public static final double MIN_NOISE = 0.05;

  /** a / b of the medians: above 1 when {@code a} is faster; infinite when {@code b} measured 0. */
  public double ratio() {
    return a.median() / b.median();
  }

  /** The relative noise band: the larger spread of the two sides, at least {@link #MIN_NOISE}. */
  public double noise() {
    return Math.max(MIN_NOISE, Math.max(a.spread(), b.spread()));
  }

  /** True when {@code a} and {@code b} differ by more than the noise (see the class comment). */
  public boolean measurable() {
    if (a.isEmpty() || b.isEmpty()) {
      return false;
    }
    double r = ratio();
    boolean outside = r > 1 + noise() || r < 1 / (1 + noise());
    boolean apart = a.min() > b.max() || b.min() > a.max();
    return outside && apart;
  }

  /** True when {@code a} is measurably slower than {@code b}. */
  public boolean slower() {
    return measurable() && ratio() < 1;
  }

  /** True when {@code a} is measurably faster than {@code b}. */
  public boolean faster() {
    return measurable() && ratio() > 1;
  }

  /** How many times slower (or faster) {@code a} is: the larger of ratio and its inverse. */
  public double factor() {
    double r = ratio();
    return r >= 1 ? r : 1 / r;
  }
}
