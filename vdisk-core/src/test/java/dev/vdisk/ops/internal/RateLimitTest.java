package dev.vdisk.ops.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RateLimitTest {
  @Test
  void theFirstBytesGoAtOnceAndTheRestWhenTheBytesBeforeThemAreDue() throws Exception {
    RateLimit limit = new RateLimit(1_000_000, "test");
    long start = System.nanoTime();
    limit.await(100_000);
    assertThat(System.nanoTime() - start).as("the first request").isLessThan(50_000_000L);
    limit.await(100_000);
    limit.await(100_000);
    assertThat(System.nanoTime() - start).as("200,000 bytes before the third at 1 MB/s").isGreaterThanOrEqualTo(200_000_000L);
  }

  @Test
  void concurrentCallersShareOneSchedule() throws Exception {
    RateLimit limit = new RateLimit(1_000_000, "test");
    long start = System.nanoTime();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      threads.add(Thread.ofPlatform().start(() -> {
        try {
          limit.await(100_000);
          limit.await(100_000);
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }));
    }
    for (Thread t : threads) {
      t.join();
    }
    assertThat(System.nanoTime() - start).as("700,000 bytes before the last at 1 MB/s").isGreaterThanOrEqualTo(700_000_000L);
  }

  @Test
  void aRateOfZeroIsRefused() {
    assertThatThrownBy(() -> new RateLimit(0, "test")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected: bytes per second above 0");
  }
}
