package dev.vdisk.bench.matrix;

import java.util.SplittableRandom;

/**
 * Which requests of a run the {@link OffsetRunner} times for its latency percentiles: each request independently
 * with probability {@code 1/interval}, decided from a seeded random stream before the request is sent, so the choice
 * cannot depend on the request's latency and the timed requests are a uniform random sample of the run's requests
 * (their percentiles estimate the run's). A clock read costs about 20 ns on this project's VMs, 2% of a 4 KiB
 * page-cache read, so timing every request of a long run would make the bench a measurable part of what it
 * measures. The choice is random rather than every {@code interval}-th request because a workload can be periodic
 * (a 1 MiB sequential run crosses a qcow2 L2 table every 512 requests) and a fixed stride would then time always or
 * never the slow ones.
 *
 * @param interval on average one request in this many is timed; 1 times every request
 * @param seed the random stream's seed (each worker of a run draws from its own split of it)
 */
public record LatencySampling(int interval, long seed) {

  /**
   * Timed requests a run keeps at least, when it sends all it planned: p99.9 then has at least 10 timed requests
   * above it. Runs planned below twice this time every request.
   */
  public static final int MIN_TIMED = 10_000;

  /**
   * The largest interval: a run that its time budget ends early still times one request in 16 of those it sent.
   */
  public static final int MAX_INTERVAL = 16;

  private static final long SEED = 0x5eed_1a7e_9c1eL;

  public LatencySampling {
    if (interval < 1) {
      throw new IllegalArgumentException("sampling interval " + interval + " (expected: >= 1)");
    }
  }

  /**
   * The sampling of a run that plans {@code plannedRequests} requests: the largest interval, at most
   * {@link #MAX_INTERVAL}, that still keeps {@link #MIN_TIMED} timed requests on average if the run sends them all.
   */
  public static LatencySampling forRun(int plannedRequests) {
    return new LatencySampling(Math.clamp(plannedRequests / MIN_TIMED, 1, MAX_INTERVAL), SEED);
  }

  /** Worker {@code worker}'s own sampler (workers share no random state; the same seed gives the same choices). */
  public Sampler sampler(int worker) {
    SplittableRandom root = new SplittableRandom(seed);
    SplittableRandom own = root.split();
    for (int i = 0; i < worker; i++) {
      own = root.split();
    }
    return new Sampler(interval, own);
  }

  /**
   * One worker's choices, one per request in the order it sends them. It draws the gap between two timed requests
   * (geometric with mean {@code interval - 1}, which makes each request timed with probability {@code 1/interval}
   * independently of the others) and counts it down, so an untimed request costs a decrement.
   */
  public static final class Sampler {
    private final SplittableRandom random;
    /** ln(1 - 1/interval); 0 when every request is timed. */
    private final double logMiss;
    /** Requests still to send untimed before the next timed one. */
    private int untimed;

    private Sampler(int interval, SplittableRandom random) {
      this.random = random;
      this.logMiss = interval == 1 ? 0 : Math.log1p(-1.0 / interval);
      this.untimed = gap();
    }

    /** Whether the next request is timed; each call stands for one request. */
    public boolean next() {
      if (untimed > 0) {
        untimed--;
        return false;
      }
      untimed = gap();
      return true;
    }

    private int gap() {
      if (logMiss == 0) {
        return 0;
      }
      // Inverse transform of the geometric distribution; 1 - nextDouble() is in (0, 1], so the log is finite.
      return (int) (Math.log(1 - random.nextDouble()) / logMiss);
    }
  }
}
