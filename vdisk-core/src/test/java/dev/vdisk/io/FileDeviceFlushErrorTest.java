package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.Images;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A failed fdatasync is not forgotten: Linux reports a lost write-back once per open file description, so FileDevice
 * gives each concurrent flush of a page-cache file a descriptor of its own and fails every later flush after one
 * failed (as QEMU). The host is {@link SimulatedHostFile}, which reports write-back errors as the kernel does.
 */
class FileDeviceFlushErrorTest {
  private static final int BLOCK = 4096;

  /** A disk whose first flush fails; later flushes succeed. */
  private static final class FirstFlushFails extends FilterDevice {
    final AtomicInteger flushes = new AtomicInteger();

    FirstFlushFails(BlockDevice next) {
      super(next);
    }

    @Override
    public void flush() throws IOException {
      if (flushes.incrementAndGet() == 1) {
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
    FirstFlushFails disk = new FirstFlushFails(new MemoryDevice(1 << 20));
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
    FirstFlushFails disk = new FirstFlushFails(new MemoryDevice(1 << 20));
    try (FileDevice device = device(disk, CacheMode.NONE)) {
      writeBlock(device);
      assertThatThrownBy(device::flush).hasMessageContaining("simulated write-back failure");
      writeBlock(device);
      device.flush();
      assertThat(disk.flushes).hasValue(2);
    }
  }

  /**
   * Writer A's flush makes the write-back that fails and is held before its error check; writer B's flush, which runs
   * meanwhile, checks first. Both writes were acknowledged before the failure, so both writers must see it: on a
   * shared descriptor B's check would take the one report and A's would return success.
   */
  @Test
  void aFailureAConcurrentFlushReportedFirstStillFailsTheWriterThatWaitedForIt() throws Exception {
    FirstFlushFails disk = new FirstFlushFails(new MemoryDevice(1 << 20));
    CountDownLatch aAtCheck = new CountDownLatch(1);
    CountDownLatch releaseA = new CountDownLatch(1);
    AtomicInteger checks = new AtomicInteger();
    FileOptions options = FileOptions.of(CacheMode.WRITETHROUGH, false);
    SimulatedHostFile host = SimulatedHostFile.create(disk, BLOCK, options, () -> {
      if (checks.incrementAndGet() == 1) {
        aAtCheck.countDown();
        awaitUninterruptibly(releaseA);
      }
    });
    try (FileDevice file = host.fileDevice("flush.raw", options);
        ExecutorService threads = Executors.newFixedThreadPool(2)) {
      BlockDevice device = Images.applyCacheSwitches(file, CacheMode.WRITETHROUGH);
      try {
        CompletableFuture<Void> a = CompletableFuture.runAsync(() -> writeUnchecked(device, 0), threads);
        assertThat(aAtCheck.await(10, TimeUnit.SECONDS)).isTrue();
        // Far from A's block: a neighbour's flush would wait for A's to end (GroupFlush), and this one runs beside it.
        CompletableFuture<Void> b = CompletableFuture.runAsync(() -> writeUnchecked(device, 16 * BLOCK), threads);
        assertThatThrownBy(() -> b.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
            .hasMessageContaining("simulated write-back failure");
        releaseA.countDown();
        assertThatThrownBy(() -> a.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
            .hasMessageContaining("simulated write-back failure");
        assertThat(disk.flushes).as("A's write-back failed, B's made its own").hasValue(2);
      } finally {
        releaseA.countDown(); // else closing the pool would wait for the held flush forever
      }
    }
  }

  /**
   * Many writers under writethrough, with group commit's 16 slots (their blocks apart, so that none is another's
   * neighbour and each may flush beside the others): no two fdatasyncs ever share a descriptor.
   */
  @Test
  void concurrentFlushesNeverShareADescriptor() throws Exception {
    FileOptions options = FileOptions.of(CacheMode.WRITETHROUGH, false);
    SimulatedHostFile host = SimulatedHostFile.create(new MemoryDevice(1 << 20), BLOCK, options, Thread::yield);
    try (FileDevice file = host.fileDevice("flush.raw", options);
        ExecutorService threads = Executors.newFixedThreadPool(32)) {
      BlockDevice device = Images.applyCacheSwitches(file, CacheMode.WRITETHROUGH);
      List<CompletableFuture<Void>> writers = new ArrayList<>();
      for (int t = 0; t < 32; t++) {
        long offset = t * 8L * BLOCK;
        writers.add(CompletableFuture.runAsync(() -> {
          for (int i = 0; i < 50; i++) {
            writeUnchecked(device, offset);
          }
        }, threads));
      }
      CompletableFuture.allOf(writers.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
    }
    assertThat(host.descriptorShared()).isFalse();
  }

  /**
   * Extra descriptors exist only where flushes run through the page cache of a writable file: 15 besides the data
   * path's under writethrough (group commit's 16 slots), 3 under writeback; all are closed with the device.
   */
  @Test
  void flushDescriptorsAreBoundedAndClosedWithTheDevice() throws IOException {
    assertThat(extraDescriptors(FileOptions.of(CacheMode.WRITETHROUGH, false))).isEqualTo(15);
    assertThat(extraDescriptors(FileOptions.of(CacheMode.WRITEBACK, false))).isEqualTo(3);
    assertThat(extraDescriptors(FileOptions.of(CacheMode.WRITETHROUGH, true))).as("read-only").isZero();
    assertThat(extraDescriptors(FileOptions.of(CacheMode.DIRECTSYNC, false))).as("O_DIRECT").isZero();
    assertThat(extraDescriptors(FileOptions.of(CacheMode.UNSAFE, false))).as("flushes ignored").isZero();
  }

  private static int extraDescriptors(FileOptions options) throws IOException {
    SimulatedHostFile host = SimulatedHostFile.create(new MemoryDevice(1 << 20), BLOCK, options, () -> { });
    try (FileDevice file = host.fileDevice("flush.raw", options)) {
      assertThat(host.openSyncDescriptors()).isEqualTo(host.openedSyncDescriptors());
    }
    assertThat(host.openSyncDescriptors()).as("open after close").isZero();
    return host.openedSyncDescriptors();
  }

  private static void writeUnchecked(BlockDevice device, long offset) {
    try {
      ByteBuffer block = ByteBuffer.allocateDirect(2 * BLOCK).alignedSlice(BLOCK).limit(BLOCK);
      device.write(offset, block, Set.of());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void awaitUninterruptibly(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
