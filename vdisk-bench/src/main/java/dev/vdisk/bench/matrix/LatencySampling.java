package dev.vdisk.bench.matrix;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Which requests of a run the {@link OffsetRunner} times for its latency percentiles. Timing a request costs a clock
 * read and a histogram update, about 25 ns on this project's VMs, which is 3% of a 4 KiB page-cache read: timing every
 * fast request would make the bench a measurable part of what it measures (issue 10 allows 2% for all of the
 * runner's work). So each worker times a random sample of its requests, sparse enough for the requests it sees.
 *
 * <p>Each worker times every one of its first {@code calibration} requests. From their latencies it picks its
 * interval N: the smallest power of two, at most {@code maxInterval}, for which N times their median latency reaches
 * {@link #SPARSE_ENOUGH_NANOS}, so that timing costs well under 1% of the time of the requests it samples (requests
 * slower than 8 µs are all timed; a 1 µs request one in 8, a 0.6 µs page-cache read one in 16). The median rather than the mean
 * so that one request held up by the scheduler while the worker calibrates does not make it time everything. After that it times each
 * request independently with probability 1/N and records it with weight N (it stands for N requests): the weighted
 * histogram estimates the whole run's latency distribution without bias (Horvitz-Thompson), although the first
 * requests are timed more densely than the rest. Each choice is drawn from a seeded random stream before the request
 * is sent and depends only on the latencies of earlier requests, never on the request's own. The choice is random
 * rather than every N-th request because a workload can be periodic (a 1 MiB sequential run crosses a qcow2 L2 table
 * every 512 requests) and a fixed stride would then time always or never the slow ones. N is a power of two so that a
 * choice is log2(N) bits of a random long: an untimed request costs a shift and a mask.
 *
 * @param calibration requests each worker times all of before it picks its interval; 0 starts at once with
 *     {@code maxInterval}
 * @param maxInterval the largest interval, a power of two; 1 times every request
 * @param seed the random stream's seed (each worker of a run draws from its own split of it)
 */
public record LatencySampling(int calibration, int maxInterval, long seed) {

  /** Requests each worker of a matrix run times all of before it picks its interval. */
  public static final int CALIBRATION = 16;

  /** The largest interval a matrix run uses. */
  public static final int MAX_INTERVAL = 16;

  /** A worker picks the smallest interval N for which N times its first requests' median latency reaches this. */
  public static final long SPARSE_ENOUGH_NANOS = 8_000;

  private static final long SEED = 0x5eed_1a7e_9c1eL;

  public LatencySampling {
    if (calibration < 0 || maxInterval < 1 || Integer.bitCount(maxInterval) != 1) {
      throw new IllegalArgumentException("latency sampling: every first " + calibration + ", then 1 in at most "
          + maxInterval + " (expected: >= 0, then a power of two)");
    }
  }

  /** The sampling of a matrix run: {@link #CALIBRATION} requests per worker, then 1 in at most {@link #MAX_INTERVAL}. */
  public static LatencySampling forRun() {
    return new LatencySampling(CALIBRATION, MAX_INTERVAL, SEED);
  }

  /** Worker {@code worker}'s own sampler (workers share no random state; the same seed gives the same choices). */
  public Sampler sampler(int worker) {
    SplittableRandom root = new SplittableRandom(seed);
    SplittableRandom own = root.split();
    for (int i = 0; i < worker; i++) {
      own = root.split();
    }
    return new Sampler(calibration, maxInterval, own);
  }

  /**
   * One worker's choices, one per request in the order it sends them ({@link #next}), told the latency of each timed
   * request ({@link #observe}) before it is asked about the next one.
   */
  public static final class Sampler {
    private final SplittableRandom random;
    private final int maxInterval;
    /** Calibration requests still to send. */
    private int first;
    /** Latencies of the calibration requests, the first {@code observed} of them seen so far. */
    private final long[] firstNanos;
    private int observed;
    /** The interval picked; 0 while calibrating. */
    private int interval;
    private int shift;
    private long mask;
    /** Random bits not used yet, and how many. */
    private long bits;
    private int bitsLeft;

    private Sampler(int calibration, int maxInterval, SplittableRandom random) {
      this.random = random;
      this.maxInterval = maxInterval;
      this.first = calibration;
      this.firstNanos = new long[calibration];
      if (calibration == 0) {
        pick(maxInterval);
      }
    }

    /**
     * Decides for the next request: 0 leaves it untimed, otherwise it is timed and stands for this many requests
     * (its weight in the latency histogram).
     */
    public int next() {
      if (interval == 0) {
        if (first > 0) {
          first--;
          return 1;
        }
        Arrays.sort(firstNanos, 0, observed);
        long median = firstNanos[observed / 2];
        int n = 1;
        while (n < maxInterval && n * median < SPARSE_ENOUGH_NANOS) {
          n <<= 1;
        }
        pick(n);
      }
      if (mask == 0) {
        return 1;
      }
      if (bitsLeft < shift) {
        bits = random.nextLong();
        bitsLeft = 64;
      }
      long b = bits;
      bits >>>= shift;
      bitsLeft -= shift;
      return (b & mask) == 0 ? interval : 0;
    }

    /** The latency of the timed request just completed. */
    public void observe(long nanos) {
      if (interval == 0 && observed < firstNanos.length) {
        firstNanos[observed++] = nanos;
      }
    }

    /** The interval picked, 0 if the worker ended while still timing its first requests. */
    public int interval() {
      return interval;
    }

    private void pick(int n) {
      interval = n;
      shift = Integer.numberOfTrailingZeros(n);
      mask = n - 1;
    }
  }
}
