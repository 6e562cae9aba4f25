package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A failed fdatasync is not forgotten: Linux reports a lost write-back to one fdatasync only, so FileDevice fails
 * every later flush of a page-cache file (as QEMU) and never trusts a success that overlapped a failure.
 */
class FileDeviceFlushErrorTest {
  private static final int BLOCK = 4096;

  /** A disk whose first flush waits for {@link #release} and then fails; later flushes succeed. */
  private static final class FirstFlushFails extends FilterDevice {
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    final AtomicInteger flushes = new AtomicInteger();
    final boolean hold;

    FirstFlushFails(BlockDevice next, boolean hold) {
      super(next);
      this.hold = hold;
    }

    @Override
    public void flush() throws IOException {
      if (flushes.incrementAndGet() == 1) {
        entered.countDown();
        if (hold) {
          try {
            release.await();
          } catch (InterruptedException e) {
            throw new IOException(e);
          }
        }
        throw new IOException("Input/output error (simulated write-back failure)");
      }
    }
  }

  private static FileDevice device(FirstFlushFails disk, CacheMode cache) throws IOException {
    return SimulatedHostFile.fileDevice(disk, "flush.raw", FileOptions.of(cache, false), BLOCK);
  }

  private static void writeBlock(FileDevice device) throws IOException {
    ByteBuffer block = ByteBuffer.allocateDirect(2 * BLOCK).alignedSlice(BLOCK).limit(BLOCK);
    device.write(0, block, Set.of());
  }

  @Test
  void aFailedFlushOfAPageCacheFileFailsEveryLaterFlush() throws IOException {
    FirstFlushFails disk = new FirstFlushFails(new MemoryDevice(1 << 20), false);
    try (FileDevice device = device(disk, CacheMode.WRITEBACK)) {
      writeBlock(device);
      assertThatThrownBy(device::flush).hasMessageContaining("simulated write-back failure");
      writeBlock(device);
      assertThatThrownBy(device::flush)
          .hasMessageContaining("an earlier flush failed")
          .hasMessageContaining("simulated write-back failure");
      assertThat(disk.flushes).as("the later flush is refused before it reaches the disk").hasValue(1);
    }
  }

  @Test
  void underODirectAFlushMaySucceedAfterAFailedOne() throws IOException {
    FirstFlushFails disk = new FirstFlushFails(new MemoryDevice(1 << 20), false);
    try (FileDevice device = device(disk, CacheMode.NONE)) {
      writeBlock(device);
      assertThatThrownBy(device::flush).hasMessageContaining("simulated write-back failure");
      writeBlock(device);
      device.flush();
      assertThat(disk.flushes).hasValue(2);
    }
  }

  @Test
  void aSuccessThatOverlappedAFailedFlushFails() throws Exception {
    FirstFlushFails disk = new FirstFlushFails(new MemoryDevice(1 << 20), true);
    try (FileDevice device = device(disk, CacheMode.WRITETHROUGH);
        ExecutorService threads = Executors.newFixedThreadPool(2)) {
      try {
        overlapWithAFailure(device, disk, threads);
      } finally {
        disk.release.countDown(); // else closing the pool would wait for the held flush forever
      }
    }
  }

  private static void overlapWithAFailure(FileDevice device, FirstFlushFails disk, ExecutorService threads)
      throws Exception {
    writeBlock(device);
    CompletableFuture<Void> failing = CompletableFuture.runAsync(() -> flushUnchecked(device), threads);
    assertThat(disk.entered.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> overlapping = CompletableFuture.runAsync(() -> flushUnchecked(device), threads);
    // Its own fdatasync succeeds at once; its verdict must wait for the one running beside it.
    assertThatThrownBy(() -> overlapping.get(200, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
    disk.release.countDown();
    assertThatThrownBy(failing::get).isInstanceOf(ExecutionException.class)
        .hasMessageContaining("simulated write-back failure");
    assertThatThrownBy(overlapping::get).isInstanceOf(ExecutionException.class)
        .hasMessageContaining("a concurrent flush of the file failed");
    assertThat(disk.flushes).hasValue(2);
  }

  private static void flushUnchecked(FileDevice device) {
    try {
      device.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
