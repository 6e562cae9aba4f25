package dev.vdisk.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BenchRunnerTest {

  /** Records request offsets and checks the drain rule: no request in flight while a drained flush runs. */
  private static final class Recorder extends FilterDevice {
    final List<Long> offsets = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final AtomicInteger flushesWithRequestsInFlight = new AtomicInteger();
    final AtomicInteger flushing = new AtomicInteger();
    final AtomicInteger requestsDuringFlush = new AtomicInteger();

    Recorder(BlockDevice next) {
      super(next);
    }

    private void enter(long offset) {
      offsets.add(offset);
      if (flushing.get() > 0) {
        requestsDuringFlush.incrementAndGet();
      }
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      enter(offset);
      try {
        next.read(offset, dst);
      } finally {
        inFlight.decrementAndGet();
      }
    }

    @Override
    public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
      enter(offset);
      try {
        next.write(offset, src, flags);
      } finally {
        inFlight.decrementAndGet();
      }
    }

    @Override
    public void flush() throws IOException {
      if (inFlight.get() > 0) {
        flushesWithRequestsInFlight.incrementAndGet();
      }
      flushing.incrementAndGet();
      try {
        next.flush();
      } finally {
        flushing.decrementAndGet();
      }
    }
  }

  @Test
  void depthOneIssuesExactlyQemuImgBenchsOffsets() throws IOException {
    Recorder rec = new Recorder(new MemoryDevice(65536));
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(20).withDepth(1).withStep(8192).withOffset(4096);
    BenchResult r = BenchRunner.run(rec, spec);
    List<Long> expected = new ArrayList<>();
    long at = 4096;
    for (int i = 0; i < 20; i++) {
      expected.add(at);
      at = (at + 8192) % 65536;
    }
    assertThat(rec.offsets).isEqualTo(expected);
    assertThat(r.requests()).isEqualTo(20);
    assertThat(r.bytes()).isEqualTo(20 * 4096);
    assertThat(r.latency().getTotalCount()).isEqualTo(20);
  }

  @Test
  void deeperQueuesIssueTheSameRequestsWithinTheDepth() throws IOException {
    Recorder rec = new Recorder(new MemoryDevice(1 << 20));
    CountingFilter counting = new CountingFilter(rec);
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(1000).withDepth(8);
    BenchRunner.run(counting, spec);
    List<Long> expected = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      expected.add(i * 4096L % (1 << 20));
    }
    assertThat(rec.offsets).containsExactlyInAnyOrderElementsOf(expected);
    assertThat(counting.reads()).isEqualTo(1000);
    assertThat(counting.bytesRead()).isEqualTo(1000 * 4096L);
    assertThat(counting.writes()).isZero();
    assertThat(rec.maxInFlight.get()).isLessThanOrEqualTo(8);
  }

  @Test
  void writesFillWithThePatternByte() throws IOException {
    MemoryDevice mem = new MemoryDevice(1 << 20);
    BenchRunner.run(mem, BenchSpec.DEFAULTS.withCount(3).withDepth(2).withBufferSize(1000).withWrite(true).withPattern(0xab));
    ByteBuffer got = ByteBuffer.allocate(3000);
    mem.read(0, got);
    for (int i = 0; i < 3000; i++) {
      assertThat(got.get(i)).as("byte %d", i).isEqualTo((byte) 0xab);
    }
    ByteBuffer after = ByteBuffer.allocate(1);
    mem.read(3000, after);
    assertThat(after.get(0)).isZero();
  }

  /** Flush counts qemu-img 7.2 bench made (fdatasync calls traced with strace) for depth 4, interval 10. */
  @ParameterizedTest
  @CsvSource({"40, 4", "43, 4", "44, 5", "45, 5", "4, 1", "3, 1", "0, 0"})
  void drainedFlushCadenceMatchesQemuImg(int count, long flushes) throws IOException {
    Recorder rec = new Recorder(new MemoryDevice(65536));
    CountingFilter counting = new CountingFilter(rec);
    BenchSpec spec = BenchSpec.DEFAULTS.withWrite(true).withCount(count).withDepth(4).withFlushInterval(10);
    BenchResult r = BenchRunner.run(counting, spec);
    assertThat(counting.flushes()).isEqualTo(flushes);
    assertThat(r.flushes()).isEqualTo(flushes);
    assertThat(counting.writes()).isEqualTo(count);
    assertThat(rec.flushesWithRequestsInFlight.get()).isZero();
    assertThat(rec.requestsDuringFlush.get()).isZero();
  }

  /**
   * Without drain, the flush points between requests are seen by one completion each, but every request
   * completing once all have started sees the last one: 10, 20 and 30 remaining, then 4 times 0.
   */
  @Test
  void undrainedFlushesFollowQemuImgsCallback() throws IOException {
    CountingFilter counting = new CountingFilter(new MemoryDevice(65536));
    BenchSpec spec = BenchSpec.DEFAULTS.withWrite(true).withCount(40).withDepth(4).withFlushInterval(10).withDrain(false);
    BenchResult r = BenchRunner.run(counting, spec);
    assertThat(counting.flushes()).isEqualTo(7);
    assertThat(r.flushes()).isEqualTo(7);
    assertThat(counting.writes()).isEqualTo(40);
  }

  @Test
  void aRequestPastTheEndFailsTheRunWithoutHanging() {
    BlockDevice dev = new CheckedDevice(new MemoryDevice(65536));
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(100).withDepth(4).withStep(5000);
    assertThatThrownBy(() -> BenchRunner.run(dev, spec))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining("ends beyond the device");
  }

  @Test
  void zeroRequestsIsAnEmptyRun() throws IOException {
    BenchResult r = BenchRunner.run(new MemoryDevice(4096), BenchSpec.DEFAULTS.withCount(0));
    assertThat(r.requests()).isZero();
    assertThat(r.iops()).isZero();
  }

  /**
   * A device with an asynchronous queue that runs what was queued only when the caller reaps, so that requests are
   * pending together as in the kernel; records the offsets in queueing order, the most pending at once, flushes made
   * with requests pending, and requests that bypassed the queue.
   */
  private static class Deferred extends FilterDevice {
    final List<Long> offsets = new ArrayList<>();
    final List<Object[]> pending = new ArrayList<>();
    int maxPending;
    int flushesWithRequestsPending;
    int direct;

    Deferred(BlockDevice next) {
      super(next);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      direct++;
      next.read(offset, dst);
    }

    @Override
    public void flush() throws IOException {
      if (!pending.isEmpty()) {
        flushesWithRequestsPending++;
      }
      next.flush();
    }

    @Override
    public RequestQueue queue(int depth) {
      return new RequestQueue() {
        @Override
        public int depth() {
          return depth;
        }

        @Override
        public boolean asynchronous() {
          return true;
        }

        @Override
        public void read(long offset, ByteBuffer dst, int tag) {
          add(offset, dst, false, tag);
        }

        @Override
        public void write(long offset, ByteBuffer src, int tag) {
          add(offset, src, true, tag);
        }

        private void add(long offset, ByteBuffer buf, boolean write, int tag) {
          assertThat(pending).hasSizeLessThan(depth);
          offsets.add(offset);
          pending.add(new Object[] {offset, buf, write, tag});
          maxPending = Math.max(maxPending, pending.size());
        }

        @Override
        public int reap(int min, Completion done) throws IOException {
          List<Object[]> now = new ArrayList<>(pending);
          pending.clear();
          for (Object[] r : now) {
            IOException error = null;
            try {
              if ((boolean) r[2]) {
                next.write((long) r[0], (ByteBuffer) r[1], Set.of());
              } else {
                next.read((long) r[0], (ByteBuffer) r[1]);
              }
            } catch (IOException e) {
              error = e;
            }
            done.completed((int) r[3], error);
          }
          return now.size();
        }

        @Override
        public int inFlight() {
          return pending.size();
        }

        @Override
        public void close() {
          pending.clear();
        }
      };
    }
  }

  @ParameterizedTest
  @CsvSource({"1", "8"})
  void aQueueTakesQemuImgsOffsetsInOrderFromOneThread(int depth) throws IOException {
    Deferred dev = new Deferred(new MemoryDevice(65536));
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(100).withDepth(depth).withStep(8192).withOffset(4096);
    BenchResult r = BenchRunner.run(dev, spec);
    List<Long> expected = new ArrayList<>();
    long at = 4096;
    for (int i = 0; i < 100; i++) {
      expected.add(at);
      at = (at + 8192) % 65536;
    }
    assertThat(dev.offsets).isEqualTo(expected);
    assertThat(dev.maxPending).isEqualTo(depth);
    assertThat(dev.direct).isZero();
    assertThat(r.requests()).isEqualTo(100);
    assertThat(r.latency().getTotalCount()).isEqualTo(100);
  }

  @ParameterizedTest
  @CsvSource({"40, 4", "43, 4", "44, 5", "45, 5", "4, 1", "3, 1", "0, 0"})
  void aQueuesDrainedFlushCadenceMatchesQemuImg(int count, long flushes) throws IOException {
    Deferred dev = new Deferred(new MemoryDevice(65536));
    CountingFilter counting = new CountingFilter(dev);
    BenchSpec spec = BenchSpec.DEFAULTS.withWrite(true).withCount(count).withDepth(4).withFlushInterval(10);
    BenchResult r = BenchRunner.run(dev, spec);
    assertThat(r.flushes()).isEqualTo(flushes);
    assertThat(dev.flushesWithRequestsPending).isZero();
    assertThat(dev.offsets).hasSize(count);
    assertThat(counting.writes()).isZero(); // all through the queue
  }

  @Test
  void aQueuesUndrainedFlushesFollowQemuImgsCallback() throws IOException {
    Deferred dev = new Deferred(new MemoryDevice(65536));
    BenchSpec spec = BenchSpec.DEFAULTS.withWrite(true).withCount(40).withDepth(4).withFlushInterval(10).withDrain(false);
    assertThat(BenchRunner.run(dev, spec).flushes()).isEqualTo(7);
  }

  /**
   * qemu-img's clock starts before its first request is submitted: so does the queued runner's, so that the time a
   * submission takes (an io_uring_enter each, before the loop batches them) is in the run. The first queued request
   * holds its thread for 5 ms here, so a clock started after the first requests were queued would measure less than
   * the span from that request's queuing to the last completion.
   */
  @Test
  void aQueuedRunsClockStartsBeforeTheFirstRequestIsQueued() throws IOException {
    long[] firstQueued = {0};
    long[] lastCompleting = {0};
    Deferred dev = new Deferred(new MemoryDevice(65536)) {
      @Override
      public RequestQueue queue(int depth) {
        RequestQueue below = super.queue(depth);
        return new ForwardingQueue(below) {
          @Override
          public void read(long offset, ByteBuffer dst, int tag) throws IOException {
            if (firstQueued[0] == 0) {
              firstQueued[0] = System.nanoTime();
              while (System.nanoTime() - firstQueued[0] < 5_000_000) {
                Thread.onSpinWait(); // a slow first submission
              }
            }
            super.read(offset, dst, tag);
          }

          @Override
          public int reap(int min, Completion done) throws IOException {
            return super.reap(min, (tag, error) -> {
              lastCompleting[0] = System.nanoTime();
              done.completed(tag, error);
            });
          }
        };
      }
    };
    BenchResult r = BenchRunner.run(dev, BenchSpec.DEFAULTS.withCount(4).withDepth(2));
    assertThat(r.elapsedNanos()).isGreaterThanOrEqualTo(lastCompleting[0] - firstQueued[0]);
  }

  /**
   * qemu-img fills its buffers with the pattern before its clock starts, read tests' too: so does bench, on either
   * runner, so that no request of the run is the first to touch its buffer's pages. The requests share one buffer
   * (below), so only the run's first request is sure to see the pattern: the memory device reads zeroes into it.
   */
  @ParameterizedTest
  @CsvSource({"true", "false"})
  void theBufferHoldsThePatternBeforeTheFirstRead(boolean queued) throws IOException {
    List<Read> seen = Collections.synchronizedList(new ArrayList<>());
    BenchRunner.run(observed(queued, seen), BenchSpec.DEFAULTS.withCount(4).withDepth(4).withPattern(0x5a));
    assertThat(seen).hasSize(4);
    assertThat(seen.getFirst().firstByte()).isEqualTo((byte) 0x5a);
  }

  /**
   * Every request reads into (and writes from) one buffer, as qemu-img bench's do (its bench_cb passes the first of
   * its request vectors to every request: one address in strace), whatever the depth.
   */
  @ParameterizedTest
  @CsvSource({"true", "false"})
  void allRequestsShareOneBufferAsQemuImgBenchs(boolean queued) throws IOException {
    List<Read> seen = Collections.synchronizedList(new ArrayList<>());
    BenchRunner.run(observed(queued, seen), BenchSpec.DEFAULTS.withCount(16).withDepth(4));
    assertThat(seen).hasSize(16);
    assertThat(seen.stream().map(Read::address).distinct()).hasSize(1);
  }

  /** A read as it reached the device: where its buffer starts and the byte there before the read. */
  private record Read(long address, byte firstByte) {
    static Read of(ByteBuffer dst) {
      return new Read(MemorySegment.ofBuffer(dst).address(), dst.get(dst.position()));
    }
  }

  /** A 64 KiB memory device, with a queue when {@code queued}, that adds each read to {@code seen} before making it. */
  private static BlockDevice observed(boolean queued, List<Read> seen) {
    BlockDevice memory = new MemoryDevice(65536);
    if (queued) {
      return new Deferred(memory) {
        @Override
        public RequestQueue queue(int depth) {
          return new ForwardingQueue(super.queue(depth)) {
            @Override
            public void read(long offset, ByteBuffer dst, int tag) throws IOException {
              seen.add(Read.of(dst));
              super.read(offset, dst, tag);
            }
          };
        }
      };
    }
    return new FilterDevice(memory) {
      @Override
      public void read(long offset, ByteBuffer dst) throws IOException {
        seen.add(Read.of(dst));
        next.read(offset, dst);
      }
    };
  }

  @Test
  void aRequestPastTheEndFailsAQueuedRunWithoutHanging() {
    BlockDevice dev = new CheckedDevice(new Deferred(new MemoryDevice(65536)));
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(100).withDepth(4).withStep(5000);
    assertThatThrownBy(() -> BenchRunner.run(dev, spec))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining("ends beyond the device");
  }

  /** A host file under aio=native and cache=none: the run goes through its Linux AIO queue. */
  @Test
  void aNativeFileRunsThroughLinuxAio(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("bench.raw");
    Files.write(p, new byte[1 << 20]);
    try (CheckedDevice dev = new CheckedDevice(FileDevice.open(p, FileOptions.of(CacheMode.NONE, false).withAio(Aio.NATIVE)))) {
      try (RequestQueue q = dev.queue(16)) {
        assertThat(q).isNotNull();
        assertThat(q.asynchronous()).isTrue();
      }
      BenchResult r = BenchRunner.run(dev, BenchSpec.DEFAULTS.withCount(300).withDepth(16).withWrite(true).withPattern(0xcd));
      assertThat(r.requests()).isEqualTo(300);
    }
    byte[] bytes = Files.readAllBytes(p);
    for (int i = 0; i < bytes.length; i++) {
      assertThat(bytes[i]).as("byte %d", i).isEqualTo(i < 300 * 4096 ? (byte) 0xcd : 0);
    }
  }
}
