package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RequestSerializerTest {
  private final RequestSerializer serializer = new RequestSerializer();
  /** A thread per request: the common pool may have a single thread, which one waiting request would hold. */
  private final ExecutorService threads = Executors.newCachedThreadPool();

  @AfterEach
  void stopThreads() {
    threads.shutdownNow();
  }

  /** Starts {@code begin} on another thread; the future completes once the request may proceed. */
  private CompletableFuture<RequestSerializer.Request> beginAsync(long start, long end, boolean serialising) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return serializer.begin(start, end, serialising);
      } catch (java.io.InterruptedIOException e) {
        throw new IllegalStateException(e);
      }
    }, threads);
  }

  @Test
  void readModifyWriteWaitsForAnEarlierOverlappingWrite() throws Exception {
    RequestSerializer.Request write = serializer.begin(4096, 8192, false);
    CompletableFuture<RequestSerializer.Request> rmw = beginAsync(4096, 8192, true);
    Thread.sleep(100);
    assertThat(rmw).isNotDone();
    serializer.end(write);
    serializer.end(rmw.get(5, TimeUnit.SECONDS));
  }

  @Test
  void writesWaitForAnEarlierOverlappingReadModifyWrite() throws Exception {
    RequestSerializer.Request rmw = serializer.begin(0, 4096, true);
    CompletableFuture<RequestSerializer.Request> write = beginAsync(0, 8192, false);
    CompletableFuture<RequestSerializer.Request> elsewhere = beginAsync(8192, 12288, false);
    // Not overlapping the RMW: goes ahead although a serialising request is in flight.
    serializer.end(elsewhere.get(5, TimeUnit.SECONDS));
    Thread.sleep(100);
    assertThat(write).isNotDone();
    serializer.end(rmw);
    serializer.end(write.get(5, TimeUnit.SECONDS));
  }

  @Test
  void writesWithoutReadModifyWriteNeverWaitForEachOther() throws Exception {
    RequestSerializer.Request a = serializer.begin(0, 1 << 20, false);
    RequestSerializer.Request b = beginAsync(0, 1 << 20, false).get(5, TimeUnit.SECONDS);
    serializer.end(b);
    serializer.end(a);
  }
}
