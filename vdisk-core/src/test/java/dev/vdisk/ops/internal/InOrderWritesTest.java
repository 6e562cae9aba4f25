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

/** {@link InOrderWrites}: writes run once each, in ascending order, back to back on one thread when they wait. */
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

  /** Waits until every thread is parked in its hand-in. */
  private static void awaitWaiting(List<Thread> threads) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!threads.stream().allMatch(t -> t.getState() == Thread.State.WAITING)) {
      assertThat(System.nanoTime()).as("threads waiting in time").isLessThan(deadline);
      Thread.sleep(1);
    }
  }
}
