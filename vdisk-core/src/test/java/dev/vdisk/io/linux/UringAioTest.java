package dev.vdisk.io.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One thread's io_uring queue on an O_DIRECT descriptor ({@link UringAio}): each request fails or succeeds alone in
 * its own CQE, and every request completes exactly once while the rings' heads and tails wrap around many times.
 * Skipped, saying so, on a kernel that refuses io_uring.
 */
// A reap that a fault leaves waiting for good (a request on the wrong descriptor, a wake that does not end the wait)
// blocks in the kernel, where no interrupt reaches it: each test runs on a thread of its own and fails after a minute.
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
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
  void anotherThreadsWakeEndsAReapThatWaitsAndTheQueueWorksOn() throws Exception {
    Path p = AsyncIoLedger.file(dir.resolve("wake.raw"));
    try (Arena arena = Arena.ofConfined(); UringAio ring = open(p, false, 2)) {
      AsyncIoWakeCheck.check(ring, arena);
    }
  }

  @Test
  void aWatchedSocketEndsAWaitWithNothingInFlightAndCloseRemovesItsPoll() throws Exception {
    Path p = dir.resolve("watch.raw");
    Files.write(p, new byte[1 << 20]);
    UnixDomainSocketAddress at = UnixDomainSocketAddress.of(dir.resolve("watch.sock"));
    try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(at);
        SocketChannel client = SocketChannel.open(at);
        SocketChannel served = listener.accept();
        UringAio ring = open(p, false, 2)) {
      int fd = SocketFd.of(served);
      assertThat(fd).as("the test JVM exports sun.nio.ch").isPositive();
      assertThat(ring.watches()).isTrue();
      ring.watch(fd);
      ring.watch(fd); // armed already: no second poll
      assertThat(ring.unsubmitted()).isZero(); // the poll is no request
      Thread writer = Thread.ofPlatform().start(() -> {
        try {
          Thread.sleep(100);
          client.write(ByteBuffer.wrap(new byte[] {1}));
        } catch (IOException | InterruptedException e) {
          throw new IllegalStateException(e);
        }
      });
      assertThat(ring.reap(1, (slot, result) -> { throw new AssertionError("no request is in flight"); })).isZero();
      writer.join();
      assertThat(ring.readable()).isTrue();
      assertThat(ring.readable()).isFalse();
      assertThat(ring.woken()).isTrue(); // the watch ended the wait as a wake does
      ring.watch(fd); // the byte is still unread: the new poll fires at once
      assertThat(ring.reap(1, (slot, result) -> { throw new AssertionError("no request is in flight"); })).isZero();
      assertThat(ring.readable()).isTrue();
      ring.woken();
      assertThat(served.read(ByteBuffer.allocate(1))).isEqualTo(1);
      ring.watch(fd);
      ring.submit((slot, result) -> {}); // a poll in the kernel that will not fire: close removes it, not waits
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

  /**
   * The kernel's refusals, which no test can provoke in a real ring (EAGAIN: no memory for a request), scripted:
   * {@code enters} lists each call's (toSubmit, minComplete); a completion arrives on the call numbered {@code
   * arrivesOn} if it waits without submitting. More calls than {@code limit} fail the test, where a reap that spun
   * on the refusal would never return.
   */
  private static final class RefusingRing implements UringAio.Ring {
    final List<int[]> enters = new ArrayList<>();
    final int refusals;
    final int limit;
    boolean arrived;

    RefusingRing(int refusals, int limit) {
      this.refusals = refusals;
      this.limit = limit;
    }

    @Override
    public int poll(AsyncIo.Completion done) throws IOException {
      if (!arrived || enters.isEmpty()) {
        return 0;
      }
      arrived = false;
      done.completed(0, 4096);
      return 1;
    }

    @Override
    public int unconsumed() {
      return 1;
    }

    @Override
    public int enter(int toSubmit, int minComplete) {
      enters.add(new int[] {toSubmit, minComplete});
      assertThat(enters).as("io_uring_enter calls of one reap").hasSizeLessThanOrEqualTo(limit);
      if (toSubmit > 0 || enters.size() <= refusals) {
        return -ErrnoException.EAGAIN;
      }
      arrived = true;
      return 0;
    }
  }

  @Test
  void aRefusedSubmissionInAReapIsFollowedByAWaitWithoutSubmitting() throws IOException {
    RefusingRing ring = new RefusingRing(0, 3);
    Map<Integer, Long> results = new HashMap<>();
    assertThat(UringAio.reap(ring, dir, 1, results::put)).isEqualTo(1);
    assertThat(results).containsOnly(Map.entry(0, 4096L));
    // The first call submits the published request and is refused without waiting; the second only waits.
    assertThat(ring.enters).containsExactly(new int[] {1, 1}, new int[] {0, 1});
  }

  @Test
  void aReapWhoseWaitsAreRefusedAgainAndAgainFailsInsteadOfSpinning() {
    RefusingRing ring = new RefusingRing(Integer.MAX_VALUE, UringAio.WAIT_REFUSALS + 1);
    assertThatThrownBy(() -> UringAio.reap(ring, dir, 1, (slot, result) -> {}))
        .isInstanceOf(ErrnoException.class).hasMessageContaining("io_uring_enter");
    assertThat(ring.enters).hasSize(UringAio.WAIT_REFUSALS + 1);
  }
}
