package dev.vdisk.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
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
}
