package dev.vdisk.block.filter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Writethrough's group commit on a simulated disk that loses power: every write acknowledged before the power loss
 * is on the disk after it, and concurrent writers share flushes. {@code GroupFlushTest} checks the order behind it
 * (each acknowledgement follows a flush that started after the write) on every call.
 */
class GroupCommitTest {
  private static final int BLOCK = 4096;
  private static final int WRITERS = 32;
  /** Writers of the one-slot sharing case: depth 16. */
  private static final int COHORT = 16;
  private static final int WRITES_EACH = 40;

  /**
   * A disk whose flush takes a while, as an fdatasync does, so that writers arrive while one runs. The flush is
   * recorded when it begins: a write that lands during the sleep is not covered by it, as on a real disk.
   */
  private static final class SlowFlush extends FilterDevice {
    SlowFlush(BlockDevice next) {
      super(next);
    }

    @Override
    public void flush() throws IOException {
      super.flush();
      try {
        Thread.sleep(2);
      } catch (InterruptedException e) {
        throw new InterruptedIOException();
      }
    }
  }

  /**
   * A disk whose writes take a while too, as writes through a page cache or to a device do: the writers just
   * acknowledged are writing again when the next flush is due.
   */
  private static final class SlowWrites extends FilterDevice {
    SlowWrites(BlockDevice next) {
      super(next);
    }

    @Override
    public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
      try {
        Thread.sleep(1);
      } catch (InterruptedException e) {
        throw new InterruptedIOException();
      }
      super.write(offset, src, flags);
    }
  }

  /** A write acknowledged once the disk's history had {@code history} operations. */
  private record Ack(int block, int history) {}

  /**
   * One flush at a time (a format's), four, and sixteen (a host file's, as vdisk opens one): fewer than writers; and
   * sixteen with one or two for neighbours (one: a host file through the page cache), with the writers' blocks scattered (each
   * writer its own run) or sequential (taken in turn from one counter, so that the writes in flight are neighbours).
   */
  @ParameterizedTest
  @CsvSource({"1, 1, false", "4, 4, false", "16, 16, false", "16, 1, false", "16, 1, true", "16, 2, true"})
  void everyAcknowledgedWriteSurvivesAPowerLossAndConcurrentWritersShareFlushes(int concurrentFlushes,
      int neighbourFlushes, boolean sequential) throws Exception {
    CrashingDevice disk = new CrashingDevice(new MemoryDevice((long) WRITERS * WRITES_EACH * BLOCK));
    WritethroughFilter writethrough = new WritethroughFilter(new SlowFlush(disk), concurrentFlushes,
        neighbourFlushes);
    Queue<Ack> acks = new ConcurrentLinkedQueue<>();
    AtomicInteger nextBlock = new AtomicInteger();
    List<Future<?>> done = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int w = 0; w < WRITERS; w++) {
        int writer = w;
        done.add(threads.submit(() -> {
          for (int i = 0; i < WRITES_EACH; i++) {
            int block = sequential ? nextBlock.getAndIncrement() : writer * WRITES_EACH + i;
            writethrough.write((long) block * BLOCK, ByteBuffer.wrap(pattern(block)), Set.of());
            acks.add(new Ack(block, disk.historyLength())); // acknowledged: durable from this point of history on
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    }
    int writes = WRITERS * WRITES_EACH;
    // Twice as many writers as slots: some share. Sequential neighbours share most: at most one or two run at once,
    // the other writers join the pending flush (sixteen slots for all would take about half a flush per write).
    assertThat(disk.flushes()).as("flushes for %d writes, %d at once, %d for neighbours", writes, concurrentFlushes,
        neighbourFlushes)
        .isLessThan(sequential ? writes / 4 : concurrentFlushes == 1 ? writes / 2 : writes);

    Random random = new Random(18);
    int length = disk.historyLength();
    for (int crash = 0; crash < 300; crash++) {
      int point = random.nextInt(length + 1);
      MemoryDevice after = disk.crash(point, random, CrashingDevice.Tearing.SECTORS);
      for (Ack a : acks) {
        if (a.history() <= point) {
          ByteBuffer got = ByteBuffer.allocate(BLOCK);
          after.read((long) a.block() * BLOCK, got);
          assertThat(got.array()).as("block %d acknowledged at %d, power lost at %d", a.block(), a.history(), point)
              .isEqualTo(pattern(a.block()));
        }
      }
    }
  }

  /**
   * Writers whose writes are in flight when a flush is due share it with the writers waiting: with one flush at a time (as over
   * qcow2), 16 writers at depth 16 take about one flush per round of 16 writes, not one per half of them (two cohorts that alternate, one writing
   * while the other's flush runs), nor one per write.
   */
  @Test
  void aFlushWaitsForTheWritesInFlightSoThatSixteenWritersShareOne() throws Exception {
    CrashingDevice disk = new CrashingDevice(new MemoryDevice((long) COHORT * WRITES_EACH * BLOCK));
    WritethroughFilter writethrough = new WritethroughFilter(new SlowFlush(new SlowWrites(disk)), 1);
    List<Future<?>> done = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int w = 0; w < COHORT; w++) {
        int writer = w;
        done.add(threads.submit(() -> {
          for (int i = 0; i < WRITES_EACH; i++) {
            int block = writer * WRITES_EACH + i;
            writethrough.write((long) block * BLOCK, ByteBuffer.wrap(pattern(block)), Set.of());
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    }
    int writes = COHORT * WRITES_EACH;
    assertThat(disk.flushes()).as("flushes for %d writes by %d writers", writes, COHORT)
        .isLessThanOrEqualTo(WRITES_EACH * 3 / 2); // about WRITES_EACH; two alternating cohorts take twice that
  }

  private static byte[] pattern(int block) {
    byte[] b = new byte[BLOCK];
    Arrays.fill(b, (byte) (block * 31 + 7));
    b[0] = (byte) block;
    b[1] = (byte) (block >> 8);
    return b;
  }
}
