package dev.vdisk.bench.matrix;

import java.util.SplittableRandom;

/**
 * Which requests of a run the {@link OffsetRunner} times for its latency percentiles. A clock read costs about 20 ns
 * on this project's VMs, over 2% of a 4 KiB page-cache read, so timing every request of a long run would make the
 * bench a measurable part of what it measures; a sample of the requests is timed instead.
 *
 * <p>Each worker times every one of its first {@code everyFirst} requests, then each later request independently
 * with probability {@code 1/interval}, and records a request timed after that with weight {@code interval} (it stands
 * for that many requests): the weighted histogram estimates the whole run's latency distribution without bias
 * (Horvitz-Thompson), although the run's start is timed more densely than its rest. Each choice is drawn from a
 * seeded random stream before the request is sent, so it cannot depend on the request's latency. The choice is random
 * rather than every {@code interval}-th request because a workload can be periodic (a 1 MiB sequential run crosses a
 * qcow2 L2 table every 512 requests) and a fixed stride would then time always or never the slow ones. Timing all of
 * the first requests means a run that its time budget ends early (slow requests, where a clock read costs nothing
 * that matters) still times all it sent, up to {@code everyFirst} per worker.
 *
 * @param everyFirst requests each worker times all of before it starts sampling
 * @param interval after those, on average one request in this many is timed; 1 times every request
 * @param seed the random stream's seed (each worker of a run draws from its own split of it)
 */
public record LatencySampling(int everyFirst, int interval, long seed) {

  /**
   * Timed requests a run keeps at least, when it sends all it planned: p99.9 then has at least 10 timed requests
   * above it. A run times every one of its first {@code 2 * MIN_TIMED} requests.
   */
  public static final int MIN_TIMED = 10_000;

  /** The largest interval. */
  public static final int MAX_INTERVAL = 16;

  private static final long SEED = 0x5eed_1a7e_9c1eL;

  public LatencySampling {
    if (everyFirst < 0 || interval < 1) {
      throw new IllegalArgumentException("latency sampling: every first " + everyFirst + ", then 1 in " + interval
          + " (expected: >= 0, then >= 1)");
    }
  }

  /**
   * The sampling of a run of {@code depth} workers that plans {@code plannedRequests} requests: all of the first
   * {@code 2 * MIN_TIMED} (shared among the workers), then the largest interval, at most {@link #MAX_INTERVAL}, that
   * keeps {@link #MIN_TIMED} timed requests among those that follow.
   */
  public static LatencySampling forRun(int plannedRequests, int depth) {
    int first = 2 * MIN_TIMED;
    int interval = Math.clamp((plannedRequests - first) / MIN_TIMED, 1, MAX_INTERVAL);
    return new LatencySampling((first + depth - 1) / depth, interval, SEED);
  }

  /** Worker {@code worker}'s own sampler (workers share no random state; the same seed gives the same choices). */
  public Sampler sampler(int worker) {
    SplittableRandom root = new SplittableRandom(seed);
    SplittableRandom own = root.split();
    for (int i = 0; i < worker; i++) {
      own = root.split();
    }
    return new Sampler(everyFirst, interval, own);
  }

  /**
   * One worker's choices, one per request in the order it sends them. After the first requests it draws the gap to
   * the next timed request (geometric with mean {@code interval - 1}, which makes each request timed with probability
   * {@code 1/interval} independently of the others) and counts it down, so an untimed request costs a decrement.
   */
  public static final class Sampler {
    private final SplittableRandom random;
    private final int interval;
    /** ln(1 - 1/interval); 0 when every request is timed. */
    private final double logMiss;
    /** Requests still to time before sampling starts. */
    private int first;
    /** Once sampling: requests still to send untimed before the next timed one. */
    private int untimed;

    private Sampler(int everyFirst, int interval, SplittableRandom random) {
      this.random = random;
      this.interval = interval;
      this.logMiss = interval == 1 ? 0 : Math.log1p(-1.0 / interval);
      this.first = everyFirst;
      this.untimed = gap();
    }

    /**
     * Decides for the next request: 0 leaves it untimed, otherwise it is timed and stands for this many requests
     * (its weight in the latency histogram).
     */
    public int next() {
      if (first > 0) {
        first--;
        return 1;
      }
      if (untimed > 0) {
        untimed--;
        return 0;
      }
      untimed = gap();
      return interval;
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
