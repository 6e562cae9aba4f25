package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * A read-only qcow2 image's queue under aio=native and aio=io_uring: batches of reads over data, zero, compressed and unallocated
 * clusters (inside one cluster or across several, aligned or not) give what the image's read gives; a writable image's
 * queue under a stream of reads and writes gives what the image gives.
 */
class Qcow2QueueTest {
  private static final long SIZE = 16 << 20;
  private static final int CLUSTER = 65536;

  @TempDir Path dir;

  private Path image() throws IOException {
    CrashImages.make(dir, "q.qcow2", "cluster_size=65536", SIZE);
    Path p = dir.resolve("q.qcow2");
    try (OpenImage w = Images.open(p, "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
      BlockDevice dev = w.device();
      Random rnd = new Random(7);
      for (int c = 0; c < SIZE / CLUSTER; c++) {
        switch (c % 4) {
          case 0, 1 -> {
            byte[] data = new byte[CLUSTER];
            rnd.nextBytes(data);
            dev.write((long) c * CLUSTER, ByteBuffer.wrap(data), Set.of());
          }
          case 2 -> dev.writeZeroes((long) c * CLUSTER, CLUSTER, EnumSet.noneOf(WriteFlag.class));
          default -> {
            if (c % 8 == 3) {
              byte[] data = new byte[CLUSTER];
              for (int i = 0; i < CLUSTER; i++) {
                data[i] = (byte) (i / 1000 + c);
              }
              dev.write((long) c * CLUSTER, ByteBuffer.wrap(data), EnumSet.of(WriteFlag.COMPRESSED));
            } // else: unallocated
          }
        }
      }
      dev.flush();
    }
    return p;
  }

  private record Read(long offset, int length, boolean heap) {}

  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"NATIVE", "IO_URING"})
  void batchesOfReadsGiveWhatTheImageReads(Aio aio) throws IOException {
    Path p = image();
    Random rnd = new Random(11);
    try (OpenImage ro = Images.open(p, "qcow2", FileOptions.of(CacheMode.NONE, true).withAio(aio))) {
      Assumptions.assumeTrue(ro.file().aio() == aio, aio + " is not available on this kernel");
      batchesOfReads(ro, rnd);
    }
  }

  private static void batchesOfReads(OpenImage ro, Random rnd) throws IOException {
    try (RequestQueue q = RequestQueues.asynchronous(ro.device(), 16)) {
      assertThat(q).as("queue of %s", ro.device()).isNotNull();
      assertThat(q.asynchronous()).isTrue();
      for (int b = 0; b < 200; b++) {
        List<Read> batch = new ArrayList<>();
        List<ByteBuffer> bufs = new ArrayList<>();
        for (int i = 0; i < 1 + rnd.nextInt(16); i++) {
          Read r = switch (rnd.nextInt(4)) {
            case 0 -> new Read(rnd.nextInt((int) SIZE - 200_000), 1 + rnd.nextInt(150_000), rnd.nextBoolean());
            case 1 -> new Read((long) rnd.nextInt((int) (SIZE / CLUSTER)) * CLUSTER, CLUSTER, false);
            default -> new Read(4096L * rnd.nextInt((int) (SIZE / 4096)), 4096, false);
          };
          ByteBuffer buf = r.heap() ? ByteBuffer.allocate(r.length()) : DirectBuffers.aligned(r.length());
          batch.add(r);
          bufs.add(buf);
          q.read(r.offset(), buf, i);
        }
        int done = 0;
        while (done < batch.size()) {
          done += q.reap(1, (tag, e) -> assertThat(e).as("read %s", batch.get(tag)).isNull());
        }
        for (int i = 0; i < batch.size(); i++) {
          Read r = batch.get(i);
          ByteBuffer want = ByteBuffer.allocate(r.length());
          ro.device().read(r.offset(), want);
          assertThat(bufs.get(i).flip()).as("read %s", r).isEqualTo(want.flip());
        }
      }
    }
  }

  /**
   * A writable image's queue ({@link WritableImageQueue}) under a stream as bench makes it: 16 requests in flight,
   * each completion queuing the next from inside the reap (so that a synchronous write there reaps the queue below
   * again). Each tag works alone in its own 1 MiB of the disk, so requests in flight never overlap; reads are checked
   * against a model as they complete, and the whole disk at the end. Overwrites of data clusters go below; writes to
   * zero, compressed and unallocated clusters, across clusters or unaligned allocate or run synchronously.
   */
  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"NATIVE", "IO_URING"})
  void aStreamOfReadsAndWritesMatchesTheModel(Aio aio) throws IOException {
    Path p = image();
    byte[] model = new byte[(int) SIZE];
    try (OpenImage w = Images.open(p, "qcow2", FileOptions.of(CacheMode.NONE, false))) {
      w.device().read(0, ByteBuffer.wrap(model));
    }
    try (OpenImage rw = Images.open(p, "qcow2", FileOptions.of(CacheMode.NONE, false).withAio(aio))) {
      Assumptions.assumeTrue(rw.file().aio() == aio, aio + " is not available on this kernel");
      BlockDevice dev = rw.device();
      try (RequestQueue q = RequestQueues.asynchronous(dev, 16)) {
        assertThat(q).as("queue of %s", dev).isNotNull();
        new Stream(q, model, new Random(13), 4000).run();
      }
      dev.flush();
      byte[] got = new byte[(int) SIZE];
      dev.read(0, ByteBuffer.wrap(got));
      assertThat(got).isEqualTo(model);
    }
    try (OpenImage again = Images.open(p, "qcow2", FileOptions.of(CacheMode.NONE, true))) {
      byte[] got = new byte[(int) SIZE];
      again.device().read(0, ByteBuffer.wrap(got));
      assertThat(got).as("after reopening").isEqualTo(model);
    }
  }

  /** The request stream of {@link #aStreamOfReadsAndWritesMatchesTheModel}. */
  private static final class Stream {
    private static final int TAGS = 16;
    private static final int REGION = (int) (SIZE / TAGS);
    private final RequestQueue q;
    private final byte[] model;
    private final Random rnd;
    private final long[] offsets = new long[TAGS];
    private final ByteBuffer[] bufs = new ByteBuffer[TAGS];
    private final boolean[] reads = new boolean[TAGS];
    private int left;
    private int inFlight;

    Stream(RequestQueue q, byte[] model, Random rnd, int count) {
      this.q = q;
      this.model = model;
      this.rnd = rnd;
      this.left = count;
    }

    void run() throws IOException {
      for (int t = 0; t < TAGS; t++) {
        next(t);
      }
      while (inFlight > 0) {
        q.reap(1, this::completed);
      }
    }

    private void next(int tag) throws IOException {
      if (left == 0) {
        return;
      }
      left--;
      long base = (long) tag * REGION;
      int kind = rnd.nextInt(10);
      int length = switch (kind) {
        case 0 -> 1 + rnd.nextInt(3 * CLUSTER); // unaligned, maybe across clusters
        case 1 -> CLUSTER;
        default -> 4096;
      };
      long offset = kind == 0 ? base + rnd.nextInt(REGION - length) : base + 4096L * rnd.nextInt((REGION - length) / 4096);
      ByteBuffer buf = kind == 0 && rnd.nextBoolean() ? ByteBuffer.allocate(length) : DirectBuffers.aligned(length);
      offsets[tag] = offset;
      bufs[tag] = buf;
      reads[tag] = rnd.nextInt(3) == 0;
      inFlight++;
      if (reads[tag]) {
        q.read(offset, buf, tag);
      } else {
        byte[] data = new byte[length];
        rnd.nextBytes(data);
        buf.put(0, data);
        System.arraycopy(data, 0, model, (int) offset, length);
        q.write(offset, buf, tag);
      }
    }

    private void completed(int tag, IOException e) throws IOException {
      inFlight--;
      assertThat(e).as("request %d at %d", tag, offsets[tag]).isNull();
      ByteBuffer buf = bufs[tag];
      assertThat(buf.hasRemaining()).as("request %d at %d left bytes", tag, offsets[tag]).isFalse();
      if (reads[tag]) {
        byte[] got = new byte[buf.limit()];
        buf.get(0, got);
        byte[] want = new byte[got.length];
        System.arraycopy(model, (int) offsets[tag], want, 0, want.length);
        assertThat(got).as("read at %d", offsets[tag]).isEqualTo(want);
      }
      next(tag); // from inside the reap, as bench_cb
    }
  }
}
