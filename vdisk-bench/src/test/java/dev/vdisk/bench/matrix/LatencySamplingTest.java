package dev.vdisk.bench.matrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import java.util.SplittableRandom;
import java.util.stream.IntStream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.HdrHistogram.Histogram;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/** Latency sampling: the timed requests are a random sample, and their weighted percentiles are the run's. */
class LatencySamplingTest {
  private static final int MIN = LatencySampling.MIN_TIMED;

  @Property
  void aRunKeepsEnoughTimedRequestsForItsP999(@ForAll @IntRange(min = 0, max = 100_000_000) int planned,
      @ForAll @IntRange(min = 1, max = 64) int depth) {
    LatencySampling s = LatencySampling.forRun(planned, depth);
    assertThat((long) s.everyFirst() * depth).as("all of the first requests, shared by the workers")
        .isBetween(2L * MIN, 2L * MIN + depth - 1);
    int n = s.interval();
    int rest = planned - 2 * MIN;
    assertThat(n).isBetween(1, LatencySampling.MAX_INTERVAL);
    if (n > 1) {
      assertThat(rest / n).as("timed requests expected after the first").isGreaterThanOrEqualTo(MIN);
    }
    if (n < LatencySampling.MAX_INTERVAL) {
      assertThat(rest / (n + 1)).as("the largest such interval").isLessThan(MIN);
    }
  }

  @Test
  void theFirstRequestsAreAllTimedWithWeightOne() {
    LatencySampling.Sampler s = new LatencySampling(1000, 16, 7).sampler(0);
    assertThat(IntStream.range(0, 1000).allMatch(i -> s.next() == 1)).isTrue();
    assertThat(IntStream.range(0, 1000).map(i -> s.next()).filter(w -> w != 0).distinct().toArray())
        .as("then sampled, each standing for 16").containsExactly(16);
  }

  @Test
  void intervalOneTimesEveryRequest() {
    LatencySampling.Sampler s = new LatencySampling(0, 1, 7).sampler(0);
    assertThat(IntStream.range(0, 10_000).allMatch(i -> s.next() == 1)).isTrue();
  }

  /**
   * Each request is timed with probability 1/N whatever its position: also in every residue class of a period (a
   * sampler that timed every N-th request would time all of one class and none of the others).
   */
  @Property(tries = 8)
  void oneRequestInNIsTimedAtEveryPosition(@ForAll @IntRange(min = 2, max = 16) int interval,
      @ForAll @IntRange(min = 0, max = 15) int worker) {
    LatencySampling.Sampler s = new LatencySampling(0, interval, 99).sampler(worker);
    int requests = 1 << 20;
    int period = 64;
    long[] timed = new long[period];
    for (int i = 0; i < requests; i++) {
      if (s.next() != 0) {
        timed[i % period]++;
      }
    }
    double p = 1.0 / interval;
    double perClass = (double) requests / period;
    double sigma = Math.sqrt(perClass * p * (1 - p));
    for (long t : timed) {
      assertThat((double) t).isCloseTo(perClass * p, offset(5 * sigma));
    }
  }

  @Test
  void workersDrawTheirOwnChoicesAndASeedRepeatsThem() {
    LatencySampling sampling = new LatencySampling(0, 8, 5);
    assertThat(choices(sampling.sampler(0))).isEqualTo(choices(sampling.sampler(0)))
        .isNotEqualTo(choices(sampling.sampler(1)));
  }

  /**
   * A run of known latencies, sampled as OffsetRunner samples a run of its size at depth 1 (all of the first 20,000,
   * then 1 in 16 weighted 16): the sampled p50, p99 and p99.9 are the whole run's within the sampling error. Each
   * must lie between the run's exact percentiles five standard errors of the sample's rank either side
   * (sqrt(q(1-q)/n), n the weighted sample's effective size); p50 within 2% and p99 within 15% of the exact values
   * (about four standard errors each: p99 lies in the slow tail, where the sample is thin). The latencies are
   * log-normal with a periodic tail, every 64th request 50x slower (1.6% of requests, so p99 is in it), which a
   * fixed-stride sampler would time always or never, and the run's first 5% are 3x slower (a warm-up), which the
   * densely timed start would overstate without the weights.
   */
  @Test
  void sampledPercentilesAreTheRunsWithinTheSamplingError() {
    int requests = 32 * MIN;
    LatencySampling sampling = LatencySampling.forRun(requests, 1);
    assertThat(sampling.interval()).isEqualTo(LatencySampling.MAX_INTERVAL);
    LatencySampling.Sampler sampler = sampling.sampler(0);
    SplittableRandom random = new SplittableRandom(3);
    Histogram all = new Histogram(3);
    Histogram sampled = new Histogram(3);
    Histogram unweighted = new Histogram(3);
    double weights = 0;
    double squares = 0;
    for (int i = 0; i < requests; i++) {
      double median = (i % 64 == 0 ? 50_000 : 1_000) * (i < requests / 20 ? 3 : 1);
      long latency = (long) (median * Math.exp(0.3 * random.nextGaussian()));
      all.recordValue(latency);
      int weight = sampler.next();
      if (weight != 0) {
        sampled.recordValueWithCount(latency, weight);
        unweighted.recordValue(latency);
        weights += weight;
        squares += (double) weight * weight;
      }
    }
    int n = sampling.interval();
    double sampledPart = requests - sampling.everyFirst();
    assertThat(weights).as("the weights add up to the run, within five standard errors")
        .isCloseTo(requests, offset(5 * n * Math.sqrt(sampledPart / n * (1 - 1.0 / n))));
    double effective = weights * weights / squares;
    for (double q : new double[] {50, 99, 99.9}) {
      double p = q / 100;
      double band = 5 * Math.sqrt(p * (1 - p) / effective) * 100;
      assertThat(sampled.getValueAtPercentile(q)).as("p%s", q)
          .isBetween(all.getValueAtPercentile(q - band), all.getValueAtPercentile(Math.min(100, q + band)));
    }
    assertThat((double) sampled.getValueAtPercentile(50))
        .isCloseTo(all.getValueAtPercentile(50), Percentage.withPercentage(2));
    assertThat((double) sampled.getValueAtPercentile(99))
        .isCloseTo(all.getValueAtPercentile(99), Percentage.withPercentage(15));
    assertThat((double) unweighted.getValueAtPercentile(50)).as("without the weights, the warm-up would show")
        .isNotCloseTo(all.getValueAtPercentile(50), Percentage.withPercentage(10));
  }

  private static int[] choices(LatencySampling.Sampler s) {
    return IntStream.range(0, 1000).map(i -> s.next()).toArray();
  }
}
