package dev.vdisk.io.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What {@link AsyncIo#wake} promises, checked on a queue of depth 2 over {@link AsyncIoLedger#file}: another thread's
 * wake ends a reap that waits with nothing to come (it would wait for good), a wake while nobody waits ends the next
 * reap, again and again, and requests then complete as before, none of them lost to the wake-up's own request.
 */
final class AsyncIoWakeCheck {
  private static final AsyncIo.Completion NONE = (slot, result) -> {
    throw new AssertionError("no request: slot " + slot);
  };

  private AsyncIoWakeCheck() {}

  static void check(AsyncIo aio, Arena arena) throws Exception {
    assertThat(aio.wakeable()).isTrue();
    assertThat(aio.unsubmitted()).as("the wake-up's request is no request").isZero();
    Thread waker = Thread.ofPlatform().start(() -> {
      try {
        Thread.sleep(100);
        aio.wake();
      } catch (InterruptedException | IOException e) {
        throw new AssertionError(e);
      }
    });
    // On another thread, so that a reap the wake does not end fails the test instead of hanging it.
    assertThat(assertTimeoutPreemptively(Duration.ofSeconds(10), () -> aio.reap(1, NONE))).isZero();
    assertThat(aio.woken()).isTrue();
    assertThat(aio.woken()).as("taken").isFalse();
    waker.join();
    for (int round = 0; round < 3; round++) {
      aio.wake();
      assertThat(assertTimeoutPreemptively(Duration.ofSeconds(10), () -> aio.reap(1, NONE))).isZero();
      assertThat(aio.woken()).isTrue();
    }
    AsyncIoLedger ledger = new AsyncIoLedger(arena, 2);
    ledger.read(aio, 0, 3);
    ledger.read(aio, 1, 5);
    aio.submit((slot, result) -> { throw new AssertionError("refused: " + result); });
    assertThat(aio.unsubmitted()).isZero();
    // Bounded: the ring's entries have wrapped past those the wake-ups used, and a request sent on an entry still
    // naming the eventfd would wait there for good (prepareOwnOn's descriptor left behind). The ledger's memory is
    // this thread's, so a watchdog wakes the reap instead of running it on another thread.
    AtomicBoolean fired = new AtomicBoolean();
    Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
      try {
        Thread.sleep(10_000);
        fired.set(true);
        aio.wake();
      } catch (InterruptedException | IOException e) {
        // the requests completed in time
      }
    });
    int n = 0;
    while (n < 2) {
      n += aio.reap(2 - n, ledger.check);
      assertThat(n == 2 || !fired.get()).as("both requests completed within 10 s").isTrue();
    }
    watchdog.interrupt();
    watchdog.join();
    assertThat(ledger.completed()).isEqualTo(2);
    assertThat(aio.woken()).isFalse();
  }
}
