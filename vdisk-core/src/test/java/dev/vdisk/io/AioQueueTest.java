package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file's Linux AIO queue ({@code aio=native}, cache=none): many requests in the kernel at once give the bytes the
 * synchronous path gives, while other threads make read-modify-writes on the same file; failures come back with the
 * request they belong to; closing waits for what is in flight.
 */
class AioQueueTest {
  private static final int SIZE = 32 << 20;
  private static final long RMW_REGION = 24 << 20;

  @TempDir Path dir;

  private Path sparse(String name) throws IOException {
    Path p = dir.resolve(name);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(1), SIZE - 1);
    }
    return p;
  }

  /** The aio mode whose queue is tested: native here, io_uring in {@link UringQueueTest}. */
  Aio aio() {
    return Aio.NATIVE;
  }

  /** The system call a failed request's message names. */
  String call() {
    return "io_submit";
  }

  private FileDevice open(Path p, Aio aio, boolean readOnly) throws IOException {
    FileDevice dev = FileDevice.open(p, FileOptions.of(CacheMode.NONE, readOnly).withAio(aio));
    if (dev.aio() != aio) {
      dev.close();
      Assumptions.abort(aio + " is not available on this kernel: the device fell back to " + dev.aio());
    }
    return dev;
  }

  /** One request of a batch: where, how long, read or write, and in what kind of buffer. */
  private record Request(long offset, int length, boolean write, boolean heap, long seed) {
    ByteBuffer buffer() {
      ByteBuffer b = heap ? ByteBuffer.allocate(length) : DirectBuffers.aligned(length);
      if (write) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        b.put(0, data);
      }
      return b;
    }

    boolean overlaps(Request o) {
      return offset < o.offset + o.length && o.offset < offset + length;
    }
  }

  /** Batches of up to 16 requests that do not overlap within a batch, mostly aligned, some not, some past the end. */
  private static List<List<Request>> batches(long seed) {
    Random rnd = new Random(seed);
    List<List<Request>> out = new ArrayList<>();
    for (int b = 0; b < 150; b++) {
      List<Request> batch = new ArrayList<>();
      while (batch.size() < 1 + rnd.nextInt(16)) {
        Request r;
        int kind = rnd.nextInt(20);
        if (kind == 0) { // unaligned: the queue runs it synchronously
          r = new Request(rnd.nextInt(RMW_REGION_INT - 70000), 1 + rnd.nextInt(65536), rnd.nextBoolean(), rnd.nextBoolean(), rnd.nextLong());
        } else if (kind == 1) { // a read across the end of the file: short in the kernel, zeroes after it
          r = new Request(SIZE - 4096L * (1 + rnd.nextInt(4)), 4096 * (1 + rnd.nextInt(8)), false, false, 0);
        } else {
          r = new Request(4096L * rnd.nextInt(RMW_REGION_INT / 4096 - 16), 4096 * (1 + rnd.nextInt(16)), rnd.nextInt(3) == 0, kind == 2, rnd.nextLong());
        }
        if (batch.stream().noneMatch(r::overlaps)) {
          batch.add(r);
        }
      }
      out.add(batch);
    }
    return out;
  }

  private static final int RMW_REGION_INT = (int) RMW_REGION;

  @Test
  void concurrentBatchesReadAndWriteWhatTheSyncPathDoesWhileOthersReadModifyWrite() throws Exception {
    Path a = sparse("native.raw");
    Path b = sparse("threads.raw");
    try (FileDevice nat = open(a, aio(), false); FileDevice thr = open(b, Aio.THREADS, false);
        RequestQueue q = RequestQueues.asynchronous(nat, 16);
        ExecutorService pool = Executors.newFixedThreadPool(2)) {
      assertThat(nat.aio()).isEqualTo(aio());
      assertThat(q.asynchronous()).isTrue();
      AtomicBoolean stop = new AtomicBoolean();
      List<Future<?>> others = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        int id = t;
        // Unaligned writes (read-modify-write, serialising) beside the queue's region, the same on both files.
        others.add(pool.submit(() -> {
          Random rnd = new Random(id);
          while (!stop.get()) {
            long at = RMW_REGION + id * 4_000_000L + rnd.nextInt(3_000_000);
            byte[] data = new byte[1 + rnd.nextInt(9000)];
            rnd.nextBytes(data);
            nat.write(at, ByteBuffer.wrap(data), Set.of());
            thr.write(at, ByteBuffer.wrap(data), Set.of());
          }
          return null;
        }));
      }
      for (List<Request> batch : batches(42)) {
        Map<Integer, ByteBuffer> got = new HashMap<>();
        for (int i = 0; i < batch.size(); i++) {
          Request r = batch.get(i);
          ByteBuffer buf = r.buffer();
          got.put(i, buf);
          if (r.write()) {
            q.write(r.offset(), buf, i);
          } else {
            q.read(r.offset(), buf, i);
          }
        }
        assertThat(q.inFlight()).isEqualTo(batch.size());
        int done = 0;
        while (done < batch.size()) {
          done += q.reap(1, (tag, e) -> {
            assertThat(e).as("request %s", batch.get(tag)).isNull();
            assertThat(got.get(tag).hasRemaining()).isFalse();
          });
        }
        assertThat(q.inFlight()).isZero();
        for (int i = 0; i < batch.size(); i++) {
          Request r = batch.get(i);
          ByteBuffer want = r.buffer();
          if (r.write()) {
            thr.write(r.offset(), want, Set.of());
          } else {
            thr.read(r.offset(), want);
            assertThat(got.get(i).flip()).as("read %s", r).isEqualTo(want.flip());
          }
        }
      }
      stop.set(true);
      for (Future<?> f : others) {
        f.get();
      }
    }
    assertThat(Files.mismatch(a, b)).isEqualTo(-1);
  }

  @Test
  void failuresComeBackWithTheirRequest() throws IOException {
    Path p = sparse("errors.raw");
    try (CheckedDevice dev = new CheckedDevice(open(p, aio(), false));
        RequestQueue q = RequestQueues.asynchronous(dev, 8)) {
      q.read(0, DirectBuffers.aligned(4096), 0);
      q.read(SIZE - 4096, DirectBuffers.aligned(8192), 1); // past the end: the guard's EINVAL
      q.write(4096, DirectBuffers.aligned(4096), 2);
      q.write(SIZE, DirectBuffers.aligned(4096), 3); // past the end: ENOSPC, as a write there
      Map<Integer, IOException> errors = new HashMap<>();
      int n = 0;
      while (n < 4) {
        n += q.reap(4 - n, errors::put);
      }
      assertThat(errors).containsOnlyKeys(0, 1, 2, 3);
      assertThat(errors.get(0)).isNull();
      assertThat(errors.get(2)).isNull();
      assertThat(((BlockDeviceException) errors.get(1)).error()).isEqualTo(BlockError.EINVAL);
      assertThat(((BlockDeviceException) errors.get(3)).error()).isEqualTo(BlockError.ENOSPC);
    }
  }

  @Test
  void aKernelErrorFailsOnlyItsOwnRequest() throws IOException {
    Path p = sparse("ebadf.raw");
    // A read-only file's context has a read-only descriptor: the kernel fails a write with EBADF, reads succeed.
    try (FileDevice dev = open(p, aio(), true); RequestQueue q = RequestQueues.asynchronous(dev, 4)) {
      q.read(0, DirectBuffers.aligned(4096), 0);
      q.write(8192, DirectBuffers.aligned(4096), 1);
      q.read(16384, DirectBuffers.aligned(4096), 2);
      Map<Integer, IOException> errors = new HashMap<>();
      int n = 0;
      while (n < 3) {
        n += q.reap(3 - n, errors::put);
      }
      assertThat(errors.get(0)).isNull();
      assertThat(errors.get(2)).isNull();
      assertThat(errors.get(1)).isInstanceOf(BlockDeviceException.class)
          .hasMessageContaining(call() + " write").hasMessageContaining("errno 9");
      assertThat(((BlockDeviceException) errors.get(1)).error()).isEqualTo(BlockError.EIO);
    }
  }

  @Test
  void closingWaitsForRequestsInFlightAndTheDepthIsKept() throws IOException {
    Path p = sparse("close.raw");
    try (FileDevice dev = open(p, aio(), false)) {
      RequestQueue q = RequestQueues.asynchronous(dev, 4);
      for (int i = 0; i < 4; i++) {
        q.write(i * 4096L, DirectBuffers.aligned(4096).put(0, (byte) (i + 1)), i);
      }
      assertThatThrownBy(() -> q.read(0, DirectBuffers.aligned(4096), 9))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("4 requests in flight");
      q.close();
      ByteBuffer back = ByteBuffer.allocate(4 * 4096);
      dev.read(0, back);
      for (int i = 0; i < 4; i++) {
        assertThat(back.get(i * 4096)).isEqualTo((byte) (i + 1));
      }
    }
  }

  @Test
  void eachRequestIsInTheKernelOnceQueuedBeforeAnyReap() throws IOException {
    Path p = sparse("eager.raw");
    try (FileDevice dev = open(p, aio(), false); AioQueue q = (AioQueue) dev.queue(4)) {
      ByteBuffer[] reads = new ByteBuffer[2];
      for (int i = 0; i < 2; i++) {
        q.write(i * 8192L, DirectBuffers.aligned(4096).put(0, (byte) (i + 7)), i);
        assertThat(q.unsubmitted()).isZero();
        reads[i] = DirectBuffers.aligned(4096);
        q.read(1 << 20, reads[i], 2 + i);
        assertThat(q.unsubmitted()).isZero();
      }
      Map<Integer, IOException> done = new HashMap<>();
      while (q.inFlight() > 0) {
        q.reap(q.inFlight(), done::put);
      }
      assertThat(done).hasSize(4);
      assertThat(done.values()).containsOnlyNulls();
    }
    try (FileDevice dev = open(p, aio(), true)) {
      ByteBuffer back = ByteBuffer.allocate(4096);
      dev.read(8192, back);
      assertThat(back.get(0)).isEqualTo((byte) 8);
    }
  }

  @Test
  void onlyNativeOnDirectFilesHasAQueue() throws IOException {
    Path p = sparse("modes.raw");
    try (FileDevice threads = open(p, Aio.THREADS, true)) {
      assertThat(RequestQueues.asynchronous(threads, 4)).isNull();
      try (RequestQueue sync = RequestQueues.open(threads, 4)) {
        assertThat(sync.asynchronous()).isFalse();
      }
    }
  }
}
