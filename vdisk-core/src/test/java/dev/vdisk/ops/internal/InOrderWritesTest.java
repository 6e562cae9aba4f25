package dev.vdisk.ops.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * {@link InOrderWrites}: writes run once each, in ascending order, back to back on one thread when they wait; a waiting
 * write's warm-up runs on its caller's thread once the write before it has started, never earlier.
 */
class InOrderWritesTest {
  private static final int RANGE = 100;

  @Test
  void writesHandedInByManyThreadsInAnyOrderRunOnceEachInAscendingOrder() throws InterruptedException {
    for (long seed = 0; seed < 20; seed++) {
      InOrderWrites writes = new InOrderWrites();
      List<Integer> order = Collections.synchronizedList(new ArrayList<>());
      List<Integer> indexes = new ArrayList<>();
      for (int i = 0; i < 64; i++) {
        indexes.add(i);
      }
      Collections.shuffle(indexes, new Random(seed));
      List<Thread> threads = new ArrayList<>();
      for (int i : indexes) {
        threads.add(Thread.ofPlatform().start(() -> writes.run((long) i * RANGE, (long) (i + 1) * RANGE, () -> order.add(i))));
      }
      for (Thread t : threads) {
        assertThat(t.join(Duration.ofSeconds(10))).as("seed %d: every hand-in returns", seed).isTrue();
      }
      assertThat(order).as("seed %d", seed).isSorted().hasSize(64).doesNotHaveDuplicates();
    }
  }

  @Test
  void writesWaitingForTheirTurnRunOnTheThreadThatRanTheWriteBefore() throws InterruptedException {
    InOrderWrites writes = new InOrderWrites();
    List<Thread> ranOn = new CopyOnWriteArrayList<>();
    List<Thread> waiters = new ArrayList<>();
    for (int i = 1; i <= 4; i++) {
      long offset = (long) i * RANGE;
      waiters.add(Thread.ofPlatform().start(() -> writes.run(offset, offset + RANGE, () -> ranOn.add(Thread.currentThread()))));
    }
    awaitWaiting(waiters);
    writes.run(0, RANGE, () -> ranOn.add(Thread.currentThread()));
    for (Thread t : waiters) {
      t.join();
    }
    // The writes of ranges 1 to 4 ran on this thread, right after range 0's, without waking their own threads first.
    assertThat(ranOn).hasSize(5).containsOnly(Thread.currentThread());
  }

  @Test
  void stopReleasesTheWaitingWritesAndDropsLaterOnesWithoutRunningThem() throws InterruptedException {
    InOrderWrites writes = new InOrderWrites();
    AtomicBoolean ran = new AtomicBoolean();
    CountDownLatch returned = new CountDownLatch(1);
    Thread waiter = Thread.ofPlatform().start(() -> {
      writes.run(RANGE, 2 * RANGE, () -> ran.set(true));
      returned.countDown();
    });
    awaitWaiting(List.of(waiter));
    writes.stop();
    assertThat(returned.await(10, TimeUnit.SECONDS)).as("the waiting write's caller returns").isTrue();
    writes.run(0, RANGE, () -> ran.set(true));
    assertThat(ran).as("no write ran after stop").isFalse();
  }

  @Test
  void warmUpRunsOnItsCallersThreadOnceTheWriteBeforeHasStartedAndNotEarlier() throws InterruptedException {
    InOrderWrites writes = new InOrderWrites();
    List<String> events = new CopyOnWriteArrayList<>();
    CountDownLatch warmed1 = new CountDownLatch(1);
    CountDownLatch warmed2 = new CountDownLatch(1);
    CountDownLatch release0 = new CountDownLatch(1);
    CountDownLatch release1 = new CountDownLatch(1);
    List<Thread> warmedOn = new CopyOnWriteArrayList<>();
    Runnable warm1 = () -> {
      warmedOn.add(Thread.currentThread());
      events.add("warm 1");
      warmed1.countDown();
    };
    Runnable warm2 = () -> {
      warmedOn.add(Thread.currentThread());
      events.add("warm 2");
      warmed2.countDown();
    };
    Thread second = Thread.ofPlatform().start(() -> writes.run(RANGE, 2 * RANGE, () -> {
      events.add("write 1");
      await(release1);
    }, warm1));
    Thread third = Thread.ofPlatform().start(() -> writes.run(2 * RANGE, 3 * RANGE, () -> events.add("write 2"), warm2));
    awaitWaiting(List.of(second, third));
    assertThat(events).as("no warm-up before the write before it starts").isEmpty();

    Thread first = Thread.ofPlatform().start(() -> writes.run(0, RANGE, () -> {
      events.add("write 0");
      await(release0);
    }, () -> events.add("warm 0")));
    assertThat(warmed1.await(10, TimeUnit.SECONDS)).as("range 1 warmed while range 0 is written").isTrue();
    assertThat(warmed2.await(200, TimeUnit.MILLISECONDS)).as("one write ahead, not two").isFalse();
    release0.countDown();
    assertThat(warmed2.await(10, TimeUnit.SECONDS)).as("range 2 warmed while range 1 is written").isTrue();
    release1.countDown();
    for (Thread t : List.of(first, second, third)) {
      assertThat(t.join(Duration.ofSeconds(10))).isTrue();
    }
    // Range 0's turn had come when it was handed in: no warm-up. (A warm-up and the start of the write before it may
    // be recorded in either order.)
    assertThat(events).containsExactlyInAnyOrder("write 0", "warm 1", "write 1", "warm 2", "write 2");
    assertThat(events.indexOf("warm 1")).isLessThan(events.indexOf("write 1"));
    assertThat(events.indexOf("warm 2")).isLessThan(events.indexOf("write 2"));
    assertThat(warmedOn).containsExactly(second, third);
  }

  @Test
  void warmUpRunsAtOnceWhenTheWriteBeforeIsRunningAlready() throws InterruptedException {
    InOrderWrites writes = new InOrderWrites();
    CountDownLatch writing = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Thread first = Thread.ofPlatform().start(() -> writes.run(0, RANGE, () -> {
      writing.countDown();
      await(release);
    }));
    assertThat(writing.await(10, TimeUnit.SECONDS)).isTrue();
    CountDownLatch warmed = new CountDownLatch(1);
    Thread second = Thread.ofPlatform().start(() -> writes.run(RANGE, 2 * RANGE, () -> { }, warmed::countDown));
    assertThat(warmed.await(10, TimeUnit.SECONDS)).as("warmed while the write before runs").isTrue();
    release.countDown();
    assertThat(first.join(Duration.ofSeconds(10))).isTrue();
    assertThat(second.join(Duration.ofSeconds(10))).isTrue();
  }

  @Test
  void stopDropsAWarmUpNotYetDue() throws InterruptedException {
    InOrderWrites writes = new InOrderWrites();
    AtomicBoolean warmed = new AtomicBoolean();
    Thread waiter = Thread.ofPlatform().start(() -> writes.run(RANGE, 2 * RANGE, () -> { }, () -> warmed.set(true)));
    awaitWaiting(List.of(waiter));
    writes.stop();
    assertThat(waiter.join(Duration.ofSeconds(10))).as("the waiting write's caller returns").isTrue();
    assertThat(warmed).isFalse();
  }

  private static void await(CountDownLatch latch) {
    try {
      assertThat(latch.await(10, TimeUnit.SECONDS)).isTrue();
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /** Waits until every thread is parked in its hand-in. */
  private static void awaitWaiting(List<Thread> threads) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!threads.stream().allMatch(t -> t.getState() == Thread.State.WAITING)) {
      assertThat(System.nanoTime()).as("threads waiting in time").isLessThan(deadline);
      Thread.sleep(1);
    }
  }
}
