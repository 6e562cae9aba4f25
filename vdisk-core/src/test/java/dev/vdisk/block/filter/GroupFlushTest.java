package dev.vdisk.block.filter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GroupFlush's contract, checked on every call: a caller returns only after a flush that started after its call
 * completed successfully, a caller that fails got the error of such a flush, no more flushes run at once than the
 * bound, and callers that find every slot taken share one flush.
 */
class GroupFlushTest {
  /** One flush of the device below: its start and end on the test's clock, and its error if it failed. */
  private record FlushRecord(long start, long end, IOException failure) {}

  /**
   * A device whose flushes take random short whiles and fail at random, each stamped on one clock that the callers
   * stamp their calls and returns on too.
   */
  private static final class StampedFlushes extends FilterDevice {
    final AtomicLong clock;
    final List<FlushRecord> flushes = new ArrayList<>();
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger mostRunning = new AtomicInteger();
    private final Random random;
    private final double failureRate;

    StampedFlushes(AtomicLong clock, long seed, double failureRate) {
      super(new MemoryDevice(4096));
      this.clock = clock;
      this.random = new Random(seed);
      this.failureRate = failureRate;
    }

    @Override
    public void flush() throws IOException {
      long start = clock.incrementAndGet();
      mostRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
      boolean fail;
      long pause;
      synchronized (random) {
        fail = random.nextDouble() < failureRate;
        pause = random.nextInt(3) == 0 ? 0 : random.nextInt(200_000);
      }
      if (pause > 0) {
        LockSupport.parkNanos(pause); // writers arrive while it runs, as during an fdatasync
      } else {
        Thread.yield();
      }
      running.decrementAndGet();
      IOException failure = fail ? new IOException("flush " + start + " failed") : null;
      long end = clock.incrementAndGet();
      synchronized (flushes) {
        flushes.add(new FlushRecord(start, end, failure));
      }
      if (failure != null) {
        throw failure;
      }
    }

    /** A successful flush inside (after, before), or null. */
    FlushRecord succeededWithin(long after, long before) {
      synchronized (flushes) {
        return flushes.stream().filter(f -> f.failure() == null && f.start() > after && f.end() < before)
            .findFirst().orElse(null);
      }
    }

    /** The flush that threw {@code e}, or null. */
    FlushRecord thrower(IOException e) {
      synchronized (flushes) {
        return flushes.stream().filter(f -> f.failure() == e).findFirst().orElse(null);
      }
    }
  }

  /** One write's end: its stamp when the write completed, on return or failure, and its error. */
  private record Call(long called, long returned, IOException failure) {}

  @Property(tries = 60)
  void everyReturnFollowsAFlushThatStartedAfterTheCallAndEveryFailureIsTheErrorOfSuchAFlush(
      @ForAll @IntRange(min = 1, max = 16) int callers, @ForAll @IntRange(min = 1, max = 6) int maxRunning,
      @ForAll @IntRange(min = 1, max = 6) int neighbourBound, @ForAll @IntRange(min = 1, max = 25) int callsEach,
      @ForAll @IntRange(min = 0, max = 3) int failureTenths, @ForAll long seed) throws Exception {
    AtomicLong clock = new AtomicLong();
    StampedFlushes device = new StampedFlushes(clock, seed, failureTenths / 10.0);
    GroupFlush group = new GroupFlush(device, maxRunning, Math.min(neighbourBound, maxRunning));
    List<Call> calls = new ArrayList<>();
    List<Future<List<Call>>> done = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int c = 0; c < callers; c++) {
        Random pauses = new Random(seed + c);
        done.add(threads.submit(() -> {
          List<Call> mine = new ArrayList<>();
          for (int i = 0; i < callsEach; i++) {
            if (pauses.nextBoolean()) {
              LockSupport.parkNanos(pauses.nextInt(100_000)); // a write's time
            }
            group.writeStarted();
            if (pauses.nextBoolean()) {
              LockSupport.parkNanos(pauses.nextInt(100_000)); // a write's time: a flush that runs alone waits for it
            }
            long called = clock.incrementAndGet(); // the write completed
            IOException failure = null;
            try {
              // A few pages, so that some writes are neighbours of waiting ones and some are not.
              group.writeCompleted(pauses.nextInt(8) * 4096L, 1 + pauses.nextInt(8192), true);
            } catch (IOException e) {
              failure = e;
            }
            mine.add(new Call(called, clock.incrementAndGet(), failure));
          }
          return mine;
        }));
      }
      for (Future<List<Call>> f : done) {
        calls.addAll(f.get());
      }
    }
    for (Call call : calls) {
      if (call.failure() == null) {
        assertThat(device.succeededWithin(call.called(), call.returned()))
            .as("a successful flush started after the call at %d and ended before its return at %d", call.called(),
                call.returned())
            .isNotNull();
      } else {
        FlushRecord thrower = device.thrower(call.failure());
        assertThat(thrower).as("the flush that threw %s", call.failure()).isNotNull();
        assertThat(thrower.start()).as("start of the failed flush that the call at %d reported", call.called())
            .isGreaterThan(call.called());
      }
    }
    assertThat(device.mostRunning.get()).as("flushes running at once").isLessThanOrEqualTo(maxRunning);
    long failedFlushes = device.flushes.stream().filter(f -> f.failure() != null).count();
    long reported = calls.stream().map(Call::failure).filter(e -> e != null).distinct().count();
    assertThat(reported).as("failed flushes whose error reached a caller").isEqualTo(failedFlushes);
  }

  /**
   * A device whose flushes wait for a permit, so that the test holds them running: it counts the flushes started and
   * fails the flushes it is told to.
   */
  private static final class HeldFlushes extends FilterDevice {
    final Semaphore permits = new Semaphore(0);
    final AtomicInteger started = new AtomicInteger();
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger mostRunning = new AtomicInteger();
    /** The number (from 1) of the flush to fail, or 0. */
    volatile int failing;

    HeldFlushes() {
      super(new MemoryDevice(4096));
    }

    @Override
    public void flush() throws IOException {
      int number = started.incrementAndGet();
      mostRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
      permits.acquireUninterruptibly();
      running.decrementAndGet();
      if (number == failing) {
        throw new IOException("flush " + number + " failed");
      }
    }
  }

  @Test
  void callersThatFindEverySlotTakenShareOneFlushThatStartsWhenASlotFrees() throws Exception {
    HeldFlushes device = new HeldFlushes();
    GroupFlush group = new GroupFlush(device, 4);
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<?>> done = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        done.add(threads.submit(() -> {
          group.flush();
          return null;
        }));
      }
      awaitStarted(device, 4);
      for (int c = 0; c < 12; c++) {
        done.add(threads.submit(() -> {
          group.flush();
          return null;
        }));
      }
      awaitPending(group, 12);
      assertThat(device.started.get()).as("flushes started with every slot taken").isEqualTo(4);
      device.permits.release(); // one slot frees: the twelve's flush starts
      awaitStarted(device, 5);
      device.permits.release(4);
      for (Future<?> f : done) {
        f.get();
      }
    }
    assertThat(device.started.get()).as("flushes for 16 callers with 4 slots").isEqualTo(5);
    assertThat(device.mostRunning.get()).isEqualTo(4);
  }

  @Test
  void aFailedFlushFailsExactlyTheCallersThatWaitedForIt() throws Exception {
    HeldFlushes device = new HeldFlushes();
    device.failing = 3; // the shared flush
    GroupFlush group = new GroupFlush(device, 2);
    List<Future<?>> running = new ArrayList<>();
    List<Future<?>> sharing = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int c = 0; c < 2; c++) {
        running.add(threads.submit(() -> {
          group.flush();
          return null;
        }));
      }
      awaitStarted(device, 2);
      for (int c = 0; c < 5; c++) {
        sharing.add(threads.submit(() -> {
          group.flush();
          return null;
        }));
      }
      awaitPending(group, 5);
      device.permits.release(3);
      for (Future<?> f : running) {
        f.get();
      }
      for (Future<?> f : sharing) {
        assertThatThrownBy(f::get).isInstanceOf(ExecutionException.class).cause().hasMessage("flush 3 failed");
      }
      device.permits.release(); // a later flush succeeds: the failure was that flush's alone
      group.flush();
    }
    assertThat(device.started.get()).isEqualTo(4);
  }

  /**
   * Writes next to waiting ones start flushes while fewer than their bound run, then share the pending flush, and a
   * scattered write joins it too rather than start one of its own while it is pending (it would starve); scattered
   * writes alone each start their own.
   */
  @Test
  void neighboursShareTheNextFlushOnceTheirBoundRunsAndScatteredWritesStartTheirOwn() throws Exception {
    HeldFlushes device = new HeldFlushes();
    GroupFlush group = new GroupFlush(device, 16, 2);
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      try {
        neighboursThenScattered(device, group, threads);
      } finally {
        device.permits.release(100); // a failed assertion must not leave the writers (and the executor's close) stuck
      }
    }
    assertThat(device.mostRunning.get()).as("flushes at once: 2 neighbours, then 6 scattered").isEqualTo(6);
  }

  private static void neighboursThenScattered(HeldFlushes device, GroupFlush group, ExecutorService threads)
      throws Exception {
    List<Future<?>> done = new ArrayList<>();
    done.add(write(threads, group, 0)); // page 0: nothing waits, starts a flush
    awaitStarted(device, 1);
    done.add(write(threads, group, 4096)); // page 1 touches page 0: the second neighbour flush
    awaitStarted(device, 2);
    for (int page = 2; page < 8; page++) {
      done.add(write(threads, group, page * 4096L)); // two run: the neighbours wait for the next one
    }
    awaitDecided(device, group, 8);
    assertThat(group.pendingCallers()).as("neighbours waiting for the next flush").isEqualTo(6);
    done.add(write(threads, group, 1000 * 4096L)); // scattered, but a flush is pending: joins it
    awaitDecided(device, group, 9);
    assertThat(device.started.get()).as("flushes started by 9 writes, 8 of them neighbours").isEqualTo(2);
    device.permits.release(); // one neighbour flush ends: the pending one starts, one running besides it
    awaitStarted(device, 3);
    device.permits.release(2);
    for (Future<?> f : done) {
      f.get();
    }
    assertThat(device.started.get()).isEqualTo(3);
    for (int i = 0; i < 6; i++) {
      done.add(write(threads, group, i * 100 * 4096L)); // scattered: each starts a flush at once
    }
    awaitDecided(device, group, 9);
    assertThat(device.started.get()).as("flushes started by 6 scattered writes, after 3").isEqualTo(9);
    device.permits.release(6);
    for (Future<?> f : done) {
      f.get();
    }
  }

  /**
   * With a bound of one for neighbours, a write next to a waiting one waits for the running flush to end and for the
   * writes in flight, which then share its flush, as with one slot; a scattered write starts its own at once.
   */
  @Test
  void aNeighboursFlushWaitsForTheRunningOneAndTheWritesInFlight() throws Exception {
    HeldFlushes device = new HeldFlushes();
    GroupFlush group = new GroupFlush(device, 16, 1);
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      try {
        Future<?> first = write(threads, group, 0); // nothing waits: starts a flush
        awaitStarted(device, 1);
        group.writeStarted(); // a third write, in flight
        Future<?> second = write(threads, group, 4096); // next to the first: waits for its flush
        awaitDecided(device, group, 2);
        Future<?> scattered = write(threads, group, 100 * 4096L); // a flush is pending: joins it
        awaitDecided(device, group, 3);
        device.permits.release(); // the first flush ends; the pending one still waits for the write in flight
        first.get();
        Future<?> third = threads.submit(() -> {
          group.writeCompleted(2 * 4096L, 4096, true); // joins the pending flush, which may start now
          return null;
        });
        awaitStarted(device, 2);
        device.permits.release(2); // one more than needed: a third flush, if one started, ends too
        second.get();
        scattered.get();
        third.get();
        assertThat(device.started.get()).as("flushes for the first write, then the three others").isEqualTo(2);
        Future<?> far = write(threads, group, 1000 * 4096L); // nothing waits: starts its own
        awaitStarted(device, 3);
        device.permits.release();
        far.get();
      } finally {
        device.permits.release(100); // a failed assertion must not leave the writers (and the executor's close) stuck
      }
    }
    assertThat(device.started.get()).isEqualTo(3);
  }

  private static Future<?> write(ExecutorService threads, GroupFlush group, long offset) {
    return threads.submit(() -> {
      group.writeStarted();
      group.writeCompleted(offset, 4096, true);
      return null;
    });
  }

  /** Depth 1: one flush per call, started at once, whatever the bound. */
  @ParameterizedTest
  @ValueSource(ints = {1, 16})
  void aLoneCallerFlushesOnceForEachCall(int maxRunning) throws IOException {
    HeldFlushes device = new HeldFlushes();
    device.permits.release(100);
    GroupFlush group = new GroupFlush(device, maxRunning);
    for (int i = 0; i < 100; i++) {
      group.flush();
    }
    assertThat(device.started.get()).isEqualTo(100);
  }

  private static void awaitStarted(HeldFlushes device, int flushes) {
    while (device.started.get() < flushes) {
      Thread.yield();
    }
  }

  /** Until {@code callers} in all have started a flush or wait for the pending one (either way, they chose). */
  private static void awaitDecided(HeldFlushes device, GroupFlush group, int callers) {
    while (device.started.get() + group.pendingCallers() < callers) {
      Thread.yield();
    }
  }

  private static void awaitPending(GroupFlush group, int callers) {
    while (group.pendingCallers() < callers) {
      Thread.yield();
    }
  }
}
