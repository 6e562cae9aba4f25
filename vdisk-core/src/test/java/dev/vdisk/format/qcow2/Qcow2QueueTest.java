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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A read-only qcow2 image's queue under aio=native: batches of reads over data, zero, compressed and unallocated
 * clusters (inside one cluster or across several, aligned or not) give what the image's read gives; a writable image
 * has no queue.
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

  @Test
  void batchesOfReadsGiveWhatTheImageReads() throws IOException {
    Path p = image();
    Random rnd = new Random(11);
    try (OpenImage ro = Images.open(p, "qcow2", FileOptions.of(CacheMode.NONE, true).withAio(Aio.NATIVE));
        RequestQueue q = RequestQueues.asynchronous(ro.device(), 16)) {
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

  @Test
  void aWritableImageHasNoQueue() throws IOException {
    Path p = image();
    try (OpenImage rw = Images.open(p, "qcow2", FileOptions.of(CacheMode.NONE, false).withAio(Aio.NATIVE))) {
      assertThat(RequestQueues.asynchronous(rw.device(), 16)).isNull();
    }
  }
}
