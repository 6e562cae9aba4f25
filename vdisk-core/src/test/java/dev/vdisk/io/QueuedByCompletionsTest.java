package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Requests that a queue's completions queue while a reap hands them over (as qemu-img bench's callback does) are
 * deferred and go to the kernel together ({@link AioQueue}): each still completes exactly once, with its own bytes,
 * and a request the kernel fails fails alone, with its own offset in the message, while several threads run such
 * streams on queues of their own over one file. Skipped, saying so, where the kernel refuses the aio mode.
 */
class QueuedByCompletionsTest {
  private static final int BLOCK = 4096;
  private static final int THREADS = 4;
  /** Blocks each thread owns: its writes go only there, so the bytes every read must see are known. */
  private static final int REGION = 64;
  private static final int DEPTH = 8;
  private static final int REQUESTS = 3000;

  @TempDir Path dir;

  private static FileDevice open(Path p, Aio aio, boolean readOnly) throws IOException {
    FileDevice dev = FileDevice.open(p, FileOptions.of(CacheMode.NONE, readOnly).withAio(aio));
    if (dev.aio() != aio) {
      dev.close();
      Assumptions.abort(aio + " is not available on this kernel: the device fell back to " + dev.aio());
    }
    return dev;
  }

  /** The first 8 bytes of block {@code b} before any write: its number, plus one. */
  private static long initial(int b) {
    return b + 1L;
  }

  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"NATIVE", "IO_URING"})
  void requestsQueuedByCompletionsGoTogetherAtTheNextReap(Aio aio) throws IOException {
    Path p = file("blocks.raw");
    // Depth 2: below 4 nothing a completion queues goes to the kernel before the next reap (AioQueue.low is 0).
    try (FileDevice dev = open(p, aio, false); AioQueue q = (AioQueue) dev.queue(2)) {
      List<Long> seen = new ArrayList<>();
      q.read(0, DirectBuffers.aligned(BLOCK), 0);
      q.read(BLOCK, DirectBuffers.aligned(BLOCK), 1);
      assertThat(q.unsubmitted()).as("queued outside a reap: in the kernel at once").isZero();
      RequestQueue.Completion done = (tag, e) -> {
        assertThat(e).isNull();
        seen.add((long) tag);
        if (tag < 2) {
          q.read((2L + tag) * BLOCK, DirectBuffers.aligned(BLOCK), 2 + tag); // queued by a completion
        }
      };
      while (!seen.containsAll(List.of(0L, 1L))) {
        q.reap(1, done);
      }
      // The reap returned right after the completion that queued the last follow-up: that one is still prepared.
      assertThat(q.unsubmitted()).as("queued by the last completion: prepared for the next reap").isPositive();
      q.reap(0, (tag, e) -> { throw new AssertionError("nothing was asked for: " + tag); });
      assertThat(q.unsubmitted()).as("a reap for none starts them").isZero();
      while (q.inFlight() > 0) {
        q.reap(q.inFlight(), done);
      }
      assertThat(seen).containsExactlyInAnyOrder(0L, 1L, 2L, 3L);
    }
  }

  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"NATIVE", "IO_URING"})
  void manyThreadsStreamsFromCompletionsEachCompleteOnceWithTheirBytesAndErrors(Aio aio) throws Exception {
    // Two files: the image lock keeps a writable and a read-only device off one file.
    try (FileDevice rw = open(file("rw.raw"), aio, false); FileDevice ro = open(file("ro.raw"), aio, true)) {
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      try {
        List<Future<Integer>> runs = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
          // Even threads write and read their region on the writable device; odd ones read theirs and have every
          // write refused by the kernel (a read-only descriptor: EBADF), mixed in the same batches.
          Stream s = new Stream(t, t % 2 == 0 ? rw : ro, t % 2 == 0);
          runs.add(pool.submit(s));
        }
        for (Future<Integer> f : runs) {
          assertThat(f.get()).isEqualTo(REQUESTS);
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  private Path file(String name) throws IOException {
    ByteBuffer all = ByteBuffer.allocate(THREADS * REGION * BLOCK);
    for (int b = 0; b < THREADS * REGION; b++) {
      all.putLong(b * BLOCK, initial(b));
    }
    return Files.write(dir.resolve(name), all.array());
  }

  /**
   * One thread's stream on a queue of its own: {@link #REQUESTS} requests, each next one queued by a completion, so
   * that nearly all go through the deferred path; reaps ask for 1 to all in flight, and now and then for none.
   */
  private static final class Stream implements Callable<Integer> {
    private final int thread;
    private final FileDevice dev;
    private final boolean writable;
    private final Random rnd;
    private final ByteBuffer[] bufs = new ByteBuffer[DEPTH];
    /** Per slot: the request's sequence number, block, and whether it writes. */
    private final int[] seq = new int[DEPTH];
    private final int[] block = new int[DEPTH];
    private final boolean[] write = new boolean[DEPTH];
    /** Per block of the region: the first 8 bytes a read must see (the last completed write's stamp). */
    private final long[] expected = new long[REGION];
    /** Per block of the region: a write in flight, and the reads in flight (no write starts beside them). */
    private final Set<Integer> writing = new HashSet<>();
    private final int[] reading = new int[REGION];
    private final BitSet completed = new BitSet();
    private RequestQueue q;
    private int issued;

    Stream(int thread, FileDevice dev, boolean writable) {
      this.thread = thread;
      this.dev = dev;
      this.writable = writable;
      this.rnd = new Random(thread);
      for (int i = 0; i < REGION; i++) {
        expected[i] = initial(thread * REGION + i);
      }
      for (int i = 0; i < DEPTH; i++) {
        bufs[i] = DirectBuffers.aligned(BLOCK);
      }
    }

    @Override
    public Integer call() throws IOException {
      try (RequestQueue queue = dev.queue(DEPTH)) {
        q = queue;
        assertThat(q).isInstanceOf(AioQueue.class);
        for (int slot = 0; slot < DEPTH; slot++) {
          issue(slot);
        }
        while (q.inFlight() > 0) {
          int min = rnd.nextInt(8) == 0 ? 0 : 1 + rnd.nextInt(q.inFlight());
          q.reap(min, this::completed);
        }
      }
      assertThat(completed.cardinality()).isEqualTo(issued);
      return completed.cardinality();
    }

    /**
     * Queues the next request in {@code slot}, a read or write of a block without a write in flight, and a write only
     * where no read is in flight either: every read has one right answer.
     */
    private void issue(int slot) throws IOException {
      if (issued == REQUESTS) {
        return;
      }
      int b;
      do {
        b = rnd.nextInt(REGION);
      } while (writing.contains(b));
      boolean w = rnd.nextInt(3) == 0 && reading[b] == 0;
      seq[slot] = issued++;
      block[slot] = b;
      write[slot] = w;
      long offset = (long) (thread * REGION + b) * BLOCK;
      ByteBuffer buf = bufs[slot].clear().limit(BLOCK); // clear alone may leave an 8 KiB limit (an aligned slice)
      if (w) {
        writing.add(b);
        buf.putLong(0, stamp(seq[slot]));
        q.write(offset, buf, slot);
      } else {
        reading[b]++;
        buf.putLong(0, -1);
        q.read(offset, buf, slot);
      }
    }

    private long stamp(int s) {
      return ((long) (thread + 1) << 40) | s;
    }

    private void completed(int slot, IOException error) throws IOException {
      int s = seq[slot];
      assertThat(completed.get(s)).as("thread %d request %d completed twice", thread, s).isFalse();
      completed.set(s);
      int b = block[slot];
      long offset = (long) (thread * REGION + b) * BLOCK;
      if (write[slot]) {
        writing.remove(b);
        if (writable) {
          assertThat(error).as("thread %d write %d", thread, s).isNull();
          expected[b] = stamp(s);
        } else {
          assertThat(error).isInstanceOf(BlockDeviceException.class)
              .hasMessageContaining("offset " + offset + " length").hasMessageContaining("errno 9");
        }
      } else {
        reading[b]--;
        assertThat(error).as("thread %d read %d", thread, s).isNull();
        assertThat(bufs[slot].getLong(0)).as("thread %d read %d of block %d", thread, s, b).isEqualTo(expected[b]);
      }
      issue(slot);
    }
  }
}
