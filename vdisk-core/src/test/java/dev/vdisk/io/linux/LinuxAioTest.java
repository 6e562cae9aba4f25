package dev.vdisk.io.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Linux AIO on an O_DIRECT descriptor: one io_submit for a batch, one io_getevents for its completions, per-request errors. */
// A reap that a fault leaves waiting for good (a request on the wrong descriptor, a wake that does not end the wait)
// blocks in the kernel, where no interrupt reaches it: each test runs on a thread of its own and fails after a minute.
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LinuxAioTest {
  @TempDir Path dir;

  @Test
  void anotherThreadsWakeEndsAReapThatWaitsAndTheQueueWorksOn() throws Exception {
    Path p = AsyncIoLedger.file(dir.resolve("wake.raw"));
    try (Arena arena = Arena.ofConfined(); LinuxAio aio = LinuxAio.open(p, false, 2)) {
      AsyncIoWakeCheck.check(aio, arena);
    }
  }

  @Test
  void aBatchRoundTripsAndAnUnalignedRequestFailsAloneWithEinval() throws IOException {
    Path p = dir.resolve("aio.raw");
    Files.write(p, new byte[1 << 20]);
    try (Arena arena = Arena.ofConfined(); LinuxAio aio = LinuxAio.open(p, true, 4)) {
      MemorySegment out = arena.allocate(8192, 4096);
      out.fill((byte) 0x5a);
      MemorySegment in = arena.allocate(8192, 4096);
      aio.prepare(0, true, out.address(), 8192, 65536);
      aio.prepare(1, false, in.address(), 4096, 4097); // not a multiple of the block size: O_DIRECT refuses it
      aio.prepare(2, true, out.address(), 4096, 0);
      Map<Integer, Long> results = new HashMap<>();
      // Depending on the kernel, the refusal comes from io_submit or in the request's completion.
      int inKernel = aio.submit(results::put);
      assertThat(inKernel + results.size()).isEqualTo(3);
      while (inKernel > 0) {
        inKernel -= aio.reap(inKernel, results::put);
      }
      assertThat(results).containsOnly(Map.entry(0, 8192L), Map.entry(1, -(long) ErrnoException.EINVAL),
          Map.entry(2, 4096L));
      aio.prepare(3, false, in.address(), 8192, 65536);
      assertThat(aio.submit(results::put)).isEqualTo(1);
      assertThat(aio.reap(1, results::put)).isEqualTo(1);
      assertThat(results).containsEntry(3, 8192L);
      assertThat(in.mismatch(out)).isEqualTo(-1);
    }
    byte[] file = Files.readAllBytes(p);
    assertThat(file[0]).isEqualTo((byte) 0x5a);
    assertThat(file[65536 + 8191]).isEqualTo((byte) 0x5a);
    assertThat(file[8192]).isZero();
  }

  @Test
  void completionsReadFromTheMappedRingComeOnceEachAcrossItsWrapAround() throws IOException {
    Path p = AsyncIoLedger.file(dir.resolve("ring.raw"));
    int depth = 4;
    try (Arena arena = Arena.ofConfined(); LinuxAio aio = LinuxAio.open(p, false, depth)) {
      assertThat(aio.ringMapped()).isTrue();
      int ring = aio.ringSize();
      assertThat(ring).isGreaterThanOrEqualTo(depth);
      AsyncIoLedger ledger = new AsyncIoLedger(arena, depth);
      java.util.Random rnd = new java.util.Random(18);
      // Rounds of 1 to depth requests move the ring's head and tail by varying steps, so that a round's completions
      // straddle the ring's end now and then; until the ring was read around three times (or a bound, to fail rather
      // than loop where the ring is never read).
      while (aio.peeked() < 3L * ring && ledger.requests() < 40 * ring) {
        int n = 1 + rnd.nextInt(depth);
        for (int slot = 0; slot < n; slot++) {
          ledger.read(aio, slot, rnd.nextInt(AsyncIoLedger.BLOCKS));
        }
        assertThat(aio.submit(ledger.check)).isEqualTo(n);
        int left = n;
        // Mostly from the ring; io_getevents takes what a bounded spin did not see arrive.
        for (int spin = 0; left > 0 && spin < 1_000_000; spin++) {
          left -= aio.poll(ledger.check);
          Thread.onSpinWait();
        }
        while (left > 0) {
          left -= aio.reap(left, ledger.check);
        }
      }
      assertThat(aio.peeked()).isGreaterThanOrEqualTo(3L * ring);
      assertThat(ledger.completed()).isEqualTo(ledger.requests());
      assertThat(aio.poll(ledger.check)).isZero();
    }
  }

  @Test
  void aRefusedContextIsAnErrnoException() throws IOException {
    // Beyond fs.aio-max-nr (65536 by default): EAGAIN, the fall-back's trigger.
    Path p = dir.resolve("none.raw");
    Files.write(p, new byte[4096]);
    assertThatThrownBy(() -> LinuxAio.open(p, false, 1 << 20).close())
        .isInstanceOf(ErrnoException.class).hasMessageContaining("io_setup").hasMessageContaining("errno 11");
  }
}
