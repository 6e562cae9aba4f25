package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a writable image's queue ({@link WritableImageQueue}, cache=none, aio=native) wrote is what QEMU reads: a
 * qemu-img-made image is filled 4 KiB at a time at depth 16 (first writes allocate synchronously, the rest of each
 * cluster goes to Linux AIO as overwrites), then rewritten cluster by cluster at depth 16 while this thread discards
 * other clusters and flushes between reaps (released clusters must not be counted down under requests in flight,
 * nor lost once the queue closed); qemu-img check finds no corruption and no leak, and qemu-io reads each cluster's
 * pattern.
 */
class Qcow2QueueIT {
  private static final int CLUSTERS = 128;
  private static final int BLOCK = 4096;

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=65536", "extended_l2=on,cluster_size=65536"})
  void whatTheQueueWroteIsWhatQemuReads(String options) throws Exception {
    Qemu.require();
    int cluster = 65536;
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, "q.qcow2", Long.toString((long) CLUSTERS * cluster));
    int[] pattern = new int[CLUSTERS];
    Random rnd = new Random(5);
    try (OpenImage rw = Images.open(dir.resolve("q.qcow2"), "qcow2",
        FileOptions.of(CacheMode.NONE, false).withAio(Aio.NATIVE))) {
      BlockDevice dev = rw.device();
      try (RequestQueue q = RequestQueues.asynchronous(dev, 16)) {
        assertThat(q).isNotNull();
        List<long[]> fill = new ArrayList<>();
        for (int c = 0; c < CLUSTERS; c++) {
          pattern[c] = 1 + c % 200;
          for (int b = 0; b < cluster / BLOCK; b++) {
            fill.add(new long[] {(long) c * cluster + (long) b * BLOCK, pattern[c]});
          }
        }
        stream(q, fill, () -> {});
        List<long[]> rewrite = new ArrayList<>();
        List<Integer> discarded = new ArrayList<>();
        for (int c = 0; c < CLUSTERS; c++) {
          if (c % 5 == 4) {
            discarded.add(c);
            pattern[c] = 0;
            continue;
          }
          pattern[c] = 1 + rnd.nextInt(250);
          for (int b = 0; b < cluster / BLOCK; b++) {
            rewrite.add(new long[] {(long) c * cluster + (long) b * BLOCK, pattern[c]});
          }
        }
        int[] next = {0};
        stream(q, rewrite, () -> {
          if (next[0] < discarded.size()) {
            dev.discard((long) discarded.get(next[0]++) * cluster, cluster);
            dev.flush();
          }
        });
      }
    }
    String check = Qemu.checkJson(dir, "q.qcow2");
    assertThat(check).doesNotContain("\"corruptions\"").doesNotContain("\"leaks\"");
    List<String> reads = new ArrayList<>();
    for (int c = 0; c < CLUSTERS; c++) {
      reads.add("read -q -P " + pattern[c] + " " + (long) c * cluster + " " + cluster);
    }
    Qemu.io(dir, "q.qcow2", reads.toArray(String[]::new));
  }

  @FunctionalInterface
  private interface Between {
    void run() throws IOException;
  }

  /** Writes each {offset, pattern} 4 KiB at depth 16, running {@code between} after each reap that completed some. */
  private static void stream(RequestQueue q, List<long[]> writes, Between between) throws IOException {
    ByteBuffer[] bufs = new ByteBuffer[16];
    int[] inFlight = {0};
    int[] next = {0};
    List<Integer> free = new ArrayList<>();
    for (int t = 0; t < bufs.length; t++) {
      bufs[t] = DirectBuffers.aligned(BLOCK);
      free.add(t);
    }
    while (next[0] < writes.size() || inFlight[0] > 0) {
      while (!free.isEmpty() && next[0] < writes.size()) {
        int tag = free.removeLast();
        long[] w = writes.get(next[0]++);
        ByteBuffer buf = bufs[tag].clear().limit(BLOCK);
        for (int i = 0; i < BLOCK; i++) {
          buf.put(i, (byte) w[1]);
        }
        q.write(w[0], buf, tag);
        inFlight[0]++;
      }
      int n = q.reap(1, (tag, e) -> {
        if (e != null) {
          throw e;
        }
        free.add(tag);
        inFlight[0]--;
      });
      if (n > 0) {
        between.run();
      }
    }
  }
}
