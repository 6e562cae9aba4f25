package dev.vdisk.io.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.Arena;

/**
 * What {@link AsyncIo#wake} promises, checked on a queue of depth 2 over {@link AsyncIoLedger#file}: another thread's
 * wake ends a reap that waits with nothing to come (it would wait for good), a wake while nobody waits ends the next
 * reap, again and again, and requests then complete as before, none of them lost to the wake-up's own request.
 * A reap that the wake does not end waits for good: callers bound the check with a {@code @Timeout} that runs the
 * test on a thread of its own ({@code SEPARATE_THREAD}), so that it fails instead of hanging the run.
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
    assertThat(aio.reap(1, NONE)).isZero();
    assertThat(aio.woken()).isTrue();
    assertThat(aio.woken()).as("taken").isFalse();
    waker.join();
    for (int round = 0; round < 3; round++) {
      aio.wake();
      assertThat(aio.reap(1, NONE)).isZero();
      assertThat(aio.woken()).isTrue();
    }
    AsyncIoLedger ledger = new AsyncIoLedger(arena, 2);
    ledger.read(aio, 0, 3);
    ledger.read(aio, 1, 5);
    aio.submit((slot, result) -> { throw new AssertionError("refused: " + result); });
    assertThat(aio.unsubmitted()).isZero();
    // The ring's entries have wrapped past those the wake-ups used: a request sent on an entry still naming the
    // eventfd would wait there for good (prepareOwnOn's descriptor left behind).
    int n = 0;
    while (n < 2) {
      n += aio.reap(2 - n, ledger.check);
    }
    assertThat(ledger.completed()).isEqualTo(2);
    assertThat(aio.woken()).isFalse();
  }
}
