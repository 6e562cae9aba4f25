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

/** Latency sampling: the timed requests are a uniform random sample, and their percentiles are the run's. */
class LatencySamplingTest {

  @Property
  void aRunKeepsEnoughTimedRequestsForItsP999(@ForAll @IntRange(min = 0, max = 100_000_000) int planned) {
    int n = LatencySampling.forRun(planned).interval();
    assertThat(n).isBetween(1, LatencySampling.MAX_INTERVAL);
    if (n > 1) {
      assertThat(planned / n).as("timed requests expected").isGreaterThanOrEqualTo(LatencySampling.MIN_TIMED);
    }
    if (n < LatencySampling.MAX_INTERVAL) {
      assertThat(planned / (n + 1)).as("the largest such interval").isLessThan(LatencySampling.MIN_TIMED);
    }
  }

  @Test
  void everyRequestIsTimedAtIntervalOne() {
    LatencySampling.Sampler s = new LatencySampling(1, 7).sampler(0);
    assertThat(IntStream.range(0, 10_000).allMatch(i -> s.next())).isTrue();
  }

  /**
   * Each request is timed with probability 1/N whatever its position: also in every residue class of a period (a
   * sampler that timed every N-th request would time all of one class and none of the others).
   */
  @Property(tries = 8)
  void oneRequestInNIsTimedAtEveryPosition(@ForAll @IntRange(min = 2, max = 16) int interval,
      @ForAll @IntRange(min = 0, max = 15) int worker) {
    LatencySampling.Sampler s = new LatencySampling(interval, 99).sampler(worker);
    int requests = 1 << 20;
    int period = 64;
    long[] timed = new long[period];
    for (int i = 0; i < requests; i++) {
      if (s.next()) {
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
    LatencySampling sampling = new LatencySampling(8, 5);
    assertThat(choices(sampling.sampler(0))).isEqualTo(choices(sampling.sampler(0)))
        .isNotEqualTo(choices(sampling.sampler(1)));
  }

  /**
   * A run of known latencies, sampled as OffsetRunner samples (the interval its policy picks for the run's size):
   * the sampled p50, p99 and p99.9 are the whole run's within the sampling error. Each sampled percentile must lie
   * between the run's exact percentiles five standard errors of the sample's rank either side (sqrt(q(1-q)/n) for n
   * timed requests); and p50 within 2%, p99 within 15% of the exact values (about four standard errors each: p99 lies
   * in the slow tail, where the sample is thin). The latencies are log-normal with a periodic tail, every 64th request
   * 50x slower (1.6% of requests, so p99 is in it), which a fixed-stride sampler would time always or never.
   */
  @Test
  void sampledPercentilesAreTheRunsWithinTheSamplingError() {
    int requests = 32 * LatencySampling.MIN_TIMED;
    LatencySampling sampling = LatencySampling.forRun(requests);
    assertThat(sampling.interval()).isEqualTo(LatencySampling.MAX_INTERVAL);
    LatencySampling.Sampler sampler = sampling.sampler(0);
    SplittableRandom random = new SplittableRandom(3);
    Histogram all = new Histogram(3);
    Histogram sampled = new Histogram(3);
    for (int i = 0; i < requests; i++) {
      double median = i % 64 == 0 ? 50_000 : 1_000;
      long latency = (long) (median * Math.exp(0.3 * random.nextGaussian()));
      all.recordValue(latency);
      if (sampler.next()) {
        sampled.recordValue(latency);
      }
    }
    long n = sampled.getTotalCount();
    assertThat((double) n).isCloseTo((double) requests / sampling.interval(), offset(
        5 * Math.sqrt(requests / (double) sampling.interval())));
    for (double q : new double[] {50, 99, 99.9}) {
      double p = q / 100;
      double band = 5 * Math.sqrt(p * (1 - p) / n) * 100;
      assertThat(sampled.getValueAtPercentile(q)).as("p%s", q)
          .isBetween(all.getValueAtPercentile(q - band), all.getValueAtPercentile(Math.min(100, q + band)));
    }
    assertThat((double) sampled.getValueAtPercentile(50))
        .isCloseTo(all.getValueAtPercentile(50), Percentage.withPercentage(2));
    assertThat((double) sampled.getValueAtPercentile(99))
        .isCloseTo(all.getValueAtPercentile(99), Percentage.withPercentage(15));
  }

  private static boolean[] choices(LatencySampling.Sampler s) {
    boolean[] out = new boolean[1000];
    for (int i = 0; i < out.length; i++) {
      out[i] = s.next();
    }
    return out;
  }
}
