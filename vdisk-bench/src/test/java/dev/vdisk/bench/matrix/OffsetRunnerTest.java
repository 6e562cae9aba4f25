package dev.vdisk.bench.matrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.offset;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.LongStream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class OffsetRunnerTest {

  /**
   * Records offsets and the most requests ever in flight. The first {@code gather} requests wait (up to 5 s) until
   * all of them are in flight, so a runner that keeps {@code depth} requests going shows exactly that depth even on
   * a busy machine; later ones take {@code sleepNanos}.
   */
  private static final class Recorder extends FilterDevice {
    final List<Long> offsets = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final CountDownLatch gathered;
    final long sleepNanos;

    Recorder(BlockDevice next, int gather, long sleepNanos) {
      super(next);
      this.gathered = new CountDownLatch(gather);
      this.sleepNanos = sleepNanos;
    }

    private void request(long offset) throws IOException {
      offsets.add(offset);
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      try {
        if (gathered.getCount() > 0) {
          gathered.countDown();
          gathered.await(5, TimeUnit.SECONDS);
        } else {
          LockSupport.parkNanos(sleepNanos);
        }
      } catch (InterruptedException e) {
        throw new java.io.InterruptedIOException();
      } finally {
        inFlight.decrementAndGet();
      }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      request(offset);
      next.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
      request(offset);
      next.write(offset, src, flags);
    }
  }

  @Property(tries = 20)
  void sendsEveryOffsetOnceAtTheGivenDepth(@ForAll @IntRange(min = 1, max = 16) int depth, @ForAll boolean write) throws IOException {
    Recorder dev = new Recorder(new MemoryDevice(1 << 20), depth, 100_000);
    long[] offsets = LongStream.range(0, 64).map(i -> (63 - i) * 4096).toArray();
    RunStats s = OffsetRunner.run(dev, offsets, 4096, depth, write, 60_000_000_000L, () -> false);
    assertThat(s.requests()).isEqualTo(64);
    assertThat(s.bytes()).isEqualTo(64 * 4096);
    assertThat(s.latency().getTotalCount()).isEqualTo(64);
    assertThat(s.timed()).as("a short run times every request").isEqualTo(64);
    assertThat(dev.offsets).containsExactlyInAnyOrderElementsOf(LongStream.of(offsets).boxed().toList());
    assertThat(dev.maxInFlight.get()).as("depth honoured").isEqualTo(depth);
    assertThat(s.iops()).isPositive();
  }

  @Test
  void theTimeBudgetEndsARunAfterAPrefixOfTheOffsets() throws IOException {
    Recorder dev = new Recorder(new MemoryDevice(64L << 20), 0, 2_000_000);
    long[] offsets = LongStream.range(0, 16384).map(i -> i * 4096).toArray();
    RunStats s = OffsetRunner.run(dev, offsets, 4096, 4, true, 50_000_000L, () -> false);
    assertThat(s.requests()).isBetween(1L, 1000L);
    // Offsets are taken in order, so the completed ones are exactly the first `requests` of the list.
    assertThat(dev.offsets).containsExactlyInAnyOrderElementsOf(
        LongStream.of(offsets).limit(s.requests()).boxed().toList());
  }

  @Test
  void aLongRunCountsEveryRequestAndTimesTheFirstAndThenOneInN() throws IOException {
    long[] offsets = new long[60_000];
    RunStats s = OffsetRunner.run(new MemoryDevice(1 << 20), offsets, 4096, 1, false, 60_000_000_000L, () -> false);
    assertThat(s.requests()).isEqualTo(offsets.length);
    assertThat(s.bytes()).isEqualTo(offsets.length * 4096L);
    assertThat(s.allOfFirst()).isEqualTo(LatencySampling.CALIBRATION);
    int n = s.sampledOneIn();
    assertThat(Integer.bitCount(n)).as("a power of two").isEqualTo(1);
    double expected = s.allOfFirst() + (offsets.length - s.allOfFirst()) / (double) n;
    assertThat((double) s.timed()).isCloseTo(expected, offset(5 * Math.sqrt(expected) + 1));
    assertThat((double) s.latency().getTotalCount()).as("the weights stand for every request")
        .isCloseTo(offsets.length, offset(n * 5 * Math.sqrt(expected) + 1));
  }

  /** Requests of 10 µs are all timed: a clock read costs nothing that matters next to them. */
  @Test
  void slowRequestsAreAllTimed() throws IOException {
    FilterDevice slow = new FilterDevice(new MemoryDevice(1 << 20)) {
      @Override
      public void read(long offset, ByteBuffer dst) throws IOException {
        long until = System.nanoTime() + 10_000;
        while (System.nanoTime() < until) {
          Thread.onSpinWait();
        }
        next.read(offset, dst);
      }
    };
    RunStats s = OffsetRunner.run(slow, new long[2000], 4096, 2, false, 60_000_000_000L, () -> false);
    assertThat(s.timed()).isEqualTo(2000);
    assertThat(s.sampledOneIn()).isEqualTo(1);
  }

  /**
   * Every 4th request takes a millisecond and the runner times a random one in 4: about a quarter of the timed
   * requests are the slow ones (a runner that timed every 4th request would report all or none of them).
   */
  @Test
  void sampledLatenciesAreTheDevicesWhateverItsPeriod() throws IOException {
    FilterDevice everyFourthSlow = new FilterDevice(new MemoryDevice(16L << 20)) {
      @Override
      public void read(long offset, ByteBuffer dst) throws IOException {
        if (offset / 4096 % 4 == 0) {
          try {
            Thread.sleep(1);
          } catch (InterruptedException e) {
            throw new java.io.InterruptedIOException();
          }
        }
        next.read(offset, dst);
      }
    };
    long[] offsets = LongStream.range(0, 2000).map(i -> i * 4096).toArray();
    RunStats s = OffsetRunner.run(everyFourthSlow, offsets, 4096, 1, false, 60_000_000_000L, () -> false,
        new LatencySampling(0, 4, 11));
    assertThat(s.requests()).isEqualTo(2000);
    long slow = s.latency().getTotalCount() - s.latency().getCountBetweenValues(0, 900_000);
    assertThat((double) slow / s.latency().getTotalCount()).isCloseTo(0.25, offset(0.08));
  }

  @Test
  void stopEndsTheRun() throws IOException {
    AtomicInteger polls = new AtomicInteger();
    RunStats s = OffsetRunner.run(new MemoryDevice(1 << 20), new long[256], 4096, 2, false, 60_000_000_000L,
        () -> polls.incrementAndGet() > 10);
    assertThat(s.requests()).isLessThan(256);
  }

  @Test
  void theFirstFailureIsThrown() {
    FilterDevice failing = new FilterDevice(new MemoryDevice(1 << 20)) {
      @Override
      public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
        throw new BlockDeviceException(BlockError.ENOSPC, "no space left at " + offset);
      }
    };
    assertThatThrownBy(() -> OffsetRunner.run(failing, new long[] {0, 4096}, 4096, 2, true, 60_000_000_000L, () -> false))
        .isInstanceOf(BlockDeviceException.class).hasMessageContaining("no space left");
  }
}
