package dev.vdisk.bench.matrix;

import java.util.SplittableRandom;

/**
 * A seeded random permutation of {@code 0 .. n-1} (Fisher-Yates over a {@link SplittableRandom}): the same seed
 * gives the same order on every machine, so runs and repeats write the same clusters in the same order.
 */
public final class Permutation {
  private Permutation() {}

  /**
   * Every integer of {@code [0, n)} exactly once, in the order {@code seed} picks.
   *
   * @throws IllegalArgumentException if {@code n < 0}
   */
  public static int[] of(int n, long seed) {
    if (n < 0) {
      throw new IllegalArgumentException("permutation size: " + n + " (expected: >= 0)");
    }
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}
