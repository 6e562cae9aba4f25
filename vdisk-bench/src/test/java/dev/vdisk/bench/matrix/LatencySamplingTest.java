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
  /**
   * A worker that calibrated on requests of one latency picks the smallest power of two N, at most 16, with N times
   * that latency at least 8 µs; one slow request among them (a preemption) does not change it.
   */
  @Property
  void theIntervalFollowsTheFirstRequestsLatency(@ForAll @IntRange(min = 1, max = 100_000) int nanos) {
    LatencySampling.Sampler s = LatencySampling.forRun().sampler(0);
    for (int i = 0; i < LatencySampling.CALIBRATION; i++) {
      assertThat(s.next()).isEqualTo(1);
      s.observe(i == 5 ? 10_000_000 : nanos);
    }
    s.next();
    int n = s.interval();
    assertThat(Integer.bitCount(n)).isEqualTo(1);
    assertThat(n).isBetween(1, LatencySampling.MAX_INTERVAL);
    if (n < LatencySampling.MAX_INTERVAL) {
      assertThat((long) n * nanos).isGreaterThanOrEqualTo(LatencySampling.SPARSE_ENOUGH_NANOS);
    }
    if (n > 1) {
      assertThat((long) n / 2 * nanos).as("the smallest such").isLessThan(LatencySampling.SPARSE_ENOUGH_NANOS);
    }
  }

  @Test
  void theFirstRequestsAreAllTimedWithWeightOne() {
    LatencySampling.Sampler s = new LatencySampling(1000, 16, 7).sampler(0);
    for (int i = 0; i < 1000; i++) {
      assertThat(s.next()).isEqualTo(1);
      s.observe(100);
    }
    assertThat(IntStream.range(0, 1000).map(i -> s.next()).filter(w -> w != 0).distinct().toArray())
        .as("then sampled, each standing for 16").containsExactly(16);
  }

  @Test
  void slowRequestsAreAllTimed() {
    LatencySampling.Sampler s = new LatencySampling(8, 16, 7).sampler(0);
    for (int i = 0; i < 8; i++) {
      s.next();
      s.observe(LatencySampling.SPARSE_ENOUGH_NANOS);
    }
    assertThat(IntStream.range(0, 10_000).allMatch(i -> s.next() == 1)).isTrue();
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
  void oneRequestInNIsTimedAtEveryPosition(@ForAll @IntRange(min = 1, max = 4) int log2,
      @ForAll @IntRange(min = 0, max = 15) int worker) {
    int interval = 1 << log2;
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
   * A run of known latencies, sampled as a matrix worker would sample it if it timed its first 20,000 requests (a
   * long calibration, so that the densely timed start is a large part of the sample): the sampled p50, p99 and p99.9
   * are the whole run's within the sampling error. Each must lie between the run's exact percentiles five standard
   * errors of the sample's rank either side (sqrt(q(1-q)/n), n the weighted sample's effective size); p50 within 2%
   * and p99 within 15% of the exact values (about four standard errors each: p99 lies in the slow tail, where the
   * sample is thin). The latencies are log-normal with a periodic tail, every 64th request 50x slower (1.6% of
   * requests, so p99 is in it), which a fixed-stride sampler would time always or never, and the run's first 5% are
   * 3x slower (a warm-up), which the densely timed start would overstate without the weights.
   */
  @Test
  void sampledPercentilesAreTheRunsWithinTheSamplingError() {
    int requests = 320_000;
    int first = 20_000;
    LatencySampling.Sampler sampler = new LatencySampling(first, LatencySampling.MAX_INTERVAL, 5).sampler(0);
    SplittableRandom random = new SplittableRandom(3);
    Histogram all = new Histogram(3);
    Histogram sampled = new Histogram(3);
    Histogram unweighted = new Histogram(3);
    double weights = 0;
    double squares = 0;
    for (int i = 0; i < requests; i++) {
      double median = (i % 64 == 0 ? 5_000 : 100) * (i < requests / 20 ? 3 : 1);
      long latency = (long) (median * Math.exp(0.3 * random.nextGaussian()));
      all.recordValue(latency);
      int weight = sampler.next();
      if (weight != 0) {
        sampler.observe(latency);
        sampled.recordValueWithCount(latency, weight);
        unweighted.recordValue(latency);
        weights += weight;
        squares += (double) weight * weight;
      }
    }
    int n = sampler.interval();
    assertThat(n).as("100 ns requests: the sparsest sampling").isEqualTo(LatencySampling.MAX_INTERVAL);
    double sampledPart = requests - first;
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
