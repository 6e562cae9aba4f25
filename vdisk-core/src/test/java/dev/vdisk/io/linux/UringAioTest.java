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
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One thread's io_uring queue on an O_DIRECT descriptor ({@link UringAio}): each request fails or succeeds alone in
 * its own CQE, and every request completes exactly once while the rings' heads and tails wrap around many times.
 * Skipped, saying so, on a kernel that refuses io_uring.
 */
class UringAioTest {
  @TempDir Path dir;

  private static UringAio open(Path p, boolean writable, int depth) throws IOException {
    try {
      return UringAio.open(p, writable, depth);
    } catch (UringUnavailableException e) {
      Assumptions.abort("io_uring is not available on this kernel: " + e.getMessage());
      throw e;
    }
  }

  @Test
  void anUnalignedRequestAndAWriteOnAReadOnlyDescriptorFailAloneInTheirCompletions() throws IOException {
    Path p = dir.resolve("errors.raw");
    Files.write(p, new byte[1 << 20]);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(8192, 4096);
      out.fill((byte) 0x5a);
      MemorySegment in = arena.allocate(8192, 4096);
      Map<Integer, Long> results = new HashMap<>();
      try (UringAio ring = open(p, true, 4)) {
        ring.prepare(0, true, out.address(), 8192, 65536);
        ring.prepare(1, false, in.address(), 4096, 4097); // not a multiple of the block size: O_DIRECT refuses it
        ring.prepare(2, true, out.address(), 4096, 0);
        ring.submit((slot, result) -> results.put(-1, result)); // never called: refusals come in CQEs
        while (results.size() < 3) {
          ring.reap(1, results::put);
        }
        assertThat(ring.unsubmitted()).isZero();
        assertThat(results).containsOnly(Map.entry(0, 8192L), Map.entry(1, -(long) ErrnoException.EINVAL),
            Map.entry(2, 4096L));
      }
      results.clear();
      try (UringAio ring = open(p, false, 2)) {
        ring.prepare(0, true, out.address(), 4096, 0); // a read-only descriptor: EBADF for this one only
        ring.prepare(1, false, in.address(), 8192, 65536);
        ring.submit((slot, result) -> results.put(-1, result));
        while (results.size() < 2) {
          ring.reap(2 - results.size(), results::put);
        }
        assertThat(results).containsOnly(Map.entry(0, -9L), Map.entry(1, 8192L));
        assertThat(in.mismatch(out)).isEqualTo(-1);
      }
    }
  }

  @Test
  void eachRequestCompletesOnceAcrossTheRingsWrapAround() throws IOException {
    Path p = AsyncIoLedger.file(dir.resolve("ring.raw"));
    int depth = 4;
    try (Arena arena = Arena.ofConfined(); UringAio ring = open(p, false, depth)) {
      AsyncIoLedger ledger = new AsyncIoLedger(arena, depth);
      Random rnd = new Random(18);
      int inFlight = 0;
      // A free slot is refilled as soon as its completion is in, a few at a time, so the SQ (4 entries) and CQ (8)
      // indexes wrap around hundreds of times at varying phases, with completions from both poll and reap.
      while (ledger.requests() < 2000) {
        for (int slot = 0; slot < depth; slot++) {
          if (ledger.free(slot) && rnd.nextInt(3) != 0) {
            ledger.read(ring, slot, rnd.nextInt(AsyncIoLedger.BLOCKS));
            inFlight++;
          }
        }
        ring.submit((slot, result) -> { throw new AssertionError("refused: " + result); });
        int n = rnd.nextBoolean() ? ring.poll(ledger.check) : 0;
        if (n == 0 && inFlight > 0) {
          n = ring.reap(1 + rnd.nextInt(inFlight), ledger.check);
        }
        inFlight -= n;
      }
      while (inFlight > 0) {
        inFlight -= ring.reap(inFlight, ledger.check);
      }
      assertThat(ledger.completed()).isEqualTo(ledger.requests());
      assertThat(ring.poll(ledger.check)).isZero();
    }
  }

  @Test
  void aRefusedRingIsUringUnavailable() throws IOException {
    Path p = dir.resolve("none.raw");
    Files.write(p, new byte[4096]);
    // More entries than io_uring_setup takes (32768): EINVAL, the fall-back's trigger.
    assertThatThrownBy(() -> UringAio.open(p, false, 1 << 20).close())
        .isInstanceOf(UringUnavailableException.class).hasMessageContaining("io_uring_setup");
  }
}
