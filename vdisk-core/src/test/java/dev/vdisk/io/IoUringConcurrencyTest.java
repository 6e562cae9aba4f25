package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many platform and virtual threads share one device's ring with overlapping reads and writes, and every result is
 * the right one: each completion must reach exactly the request it belongs to.
 *
 * <p>The image is cut into 16 KiB stripes, stripe {@code s} owned by worker {@code s % WORKERS}. A worker writes
 * random ranges (any offset and length, so O_DIRECT's read-modify-write runs too) inside its own stripes with data
 * that changes every time, and reads random ranges that span its neighbours' stripes while they are being written;
 * the bytes of its own stripes must equal its model exactly.
 */
@Isolated // the ring-size test sets a system property every FileDevice reads
@Timeout(300) // a lost completion or a starved submitter hangs: fail instead
class IoUringConcurrencyTest {
  private static final int STRIPE = 16 << 10;
  private static final int STRIPES = 256;
  private static final int SIZE = STRIPE * STRIPES;
  private static final int WORKERS = 24;
  private static final int ROUNDS = 300;

  @TempDir Path dir;

  @ParameterizedTest(name = "cache={0}")
  @ValueSource(strings = {"none", "writeback"})
  void overlappingRequestsFromPlatformAndVirtualThreadsAllGetTheirOwnResults(String cache) throws Exception {
    try (FileDevice dev = open(CacheMode.parse(cache))) {
      run(dev, WORKERS);
    }
  }

  @Test
  void aSmallRingBoundsRequestsInFlightAndServesManyMoreThreads() throws Exception {
    System.setProperty("vdisk.io_uring.entries", "4");
    try (FileDevice dev = open(CacheMode.NONE)) {
      run(dev, WORKERS);
    } finally {
      System.clearProperty("vdisk.io_uring.entries");
    }
  }

  /**
   * On an O_DIRECT file each platform thread gets a ring of its own, up to a limit per file: more live threads than
   * that share the shared ring, and the rings of ended threads are closed to make room for new ones. 80 threads at
   * once (past the limit of 64), then 80 more one after another (each reusing room that ended threads left), all
   * with their own results.
   */
  @Test
  void platformThreadsPastTheLimitOfOwnRingsAndAfterOthersEndedAllGetTheirOwnResults() throws Exception {
    int threads = 80;
    try (FileDevice dev = open(CacheMode.NONE)) {
      try (ExecutorService many = Executors.newFixedThreadPool(threads)) {
        List<Future<?>> done = new ArrayList<>();
        for (int w = 0; w < threads; w++) {
          int id = w;
          done.add(many.submit(() -> {
            worker(dev, id, threads, 20);
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get();
        }
      }
      dev.write(0, ByteBuffer.allocate(SIZE), Set.of()); // the workers' models start from zeroes again
      for (int w = 0; w < threads; w++) {
        int id = w;
        try (ExecutorService one = Executors.newSingleThreadExecutor()) { // a new thread, ended when closed
          one.submit(() -> {
            worker(dev, id, threads, 20);
            return null;
          }).get();
        }
      }
    }
  }

  private FileDevice open(CacheMode mode) throws IOException {
    Path p = dir.resolve("concurrent-" + mode + "-" + System.nanoTime() + ".raw");
    Files.write(p, new byte[SIZE]);
    FileDevice dev = FileDevice.open(p, FileOptions.of(mode, false).withAio(Aio.IO_URING));
    if (dev.aio() != Aio.IO_URING) {
      dev.close();
      Assumptions.abort("io_uring is not available on this kernel");
    }
    return dev;
  }

  private static void run(FileDevice dev, int workers) throws Exception {
    List<Future<?>> done = new ArrayList<>();
    try (ExecutorService platform = Executors.newFixedThreadPool(workers / 3);
        ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int w = 0; w < workers; w++) {
        int id = w;
        done.add((w % 3 == 0 ? platform : virtual).submit(() -> {
          worker(dev, id, workers);
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    }
  }

  private static void worker(FileDevice dev, int id, int workers) throws IOException {
    worker(dev, id, workers, ROUNDS);
  }

  private static void worker(FileDevice dev, int id, int workers, int rounds) throws IOException {
    Random rnd = new Random(id);
    byte[] model = new byte[SIZE]; // only this worker's stripes are meaningful
    List<Integer> mine = new ArrayList<>();
    for (int s = id; s < STRIPES; s += workers) {
      mine.add(s);
    }
    for (int round = 0; round < rounds; round++) {
      int stripe = mine.get(rnd.nextInt(mine.size()));
      int off = rnd.nextInt(STRIPE);
      int len = 1 + rnd.nextInt(STRIPE - off);
      long at = (long) stripe * STRIPE + off;
      byte[] data = new byte[len];
      rnd.nextBytes(data);
      ByteBuffer src = rnd.nextBoolean() ? ByteBuffer.wrap(data) : DirectBuffers.aligned(len).put(0, data);
      dev.write(at, src, Set.of());
      System.arraycopy(data, 0, model, (int) at, len);

      long from = Math.max(0, at - rnd.nextInt(3 * STRIPE));
      int span = (int) Math.min(SIZE - from, 1 + rnd.nextInt(5 * STRIPE));
      ByteBuffer dst = rnd.nextBoolean() ? ByteBuffer.allocate(span) : DirectBuffers.aligned(span);
      dev.read(from, dst);
      for (int i = 0; i < span; i++) {
        long pos = from + i;
        if ((pos / STRIPE) % workers == id) {
          assertThat(dst.get(i)).as("worker %d byte %d", id, pos).isEqualTo(model[(int) pos]);
        }
      }
    }
  }
}
