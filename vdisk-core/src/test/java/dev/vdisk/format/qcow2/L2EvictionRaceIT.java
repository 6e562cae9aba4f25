package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The L2 cache evicts clean tables on a reader's miss, without the metadata lock, while a writer under the lock may
 * hold a table it just took from the cache and is about to change: the change must land in the cached copy, not in
 * an evicted one (lost, or written back over by a stale reload), whatever readers evict meanwhile. A writer allocates
 * and discards single clusters all over an image whose cache holds two tables while a reader reads all over it (every
 * read a miss that evicts); afterwards the image reads as the writer's serial model says and {@code qemu-img check}
 * finds no corruption and no leak. With ClusterEntries.setEntry taking its table with get (before L2Cache.writable),
 * 8 runs in 9 at 5,000 operations failed: a write-back found a dirty table no longer cached.
 */
class L2EvictionRaceIT {
  private static final int CLUSTER = 512;
  private static final int CLUSTERS = 8192;
  private static final int OPS = 10_000;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  @Test
  void changesMadeWhileReadersEvictAreKept(@TempDir Path dir) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER, "t.qcow2",
        String.valueOf((long) CLUSTERS * CLUSTER));
    Path path = dir.resolve("t.qcow2");
    // Unsafe: flushes (one every other write, with a cache of two tables) skip fdatasync, which changes no ordering here.
    FileOptions options = FileOptions.of(CacheMode.UNSAFE, false);
    int[] model = new int[CLUSTERS]; // the stamp each cluster holds, 0 for zeroes
    AtomicBoolean done = new AtomicBoolean();
    // The image closes its file.
    try (Qcow2Image image = Qcow2Opener.open(FileDevice.open(path, options), FileContext.of(path, options),
            new Qcow2Format(0));
        ExecutorService pool = Executors.newSingleThreadExecutor()) {
      Future<Long> reader = pool.submit(() -> {
        Random r = new Random(2);
        ByteBuffer b = ByteBuffer.allocate(CLUSTER);
        long reads = 0;
        while (!done.get()) {
          image.read((long) r.nextInt(CLUSTERS) * CLUSTER, b.clear());
          reads++;
        }
        return reads;
      });
      try {
        Random r = new Random(1);
        ByteBuffer b = ByteBuffer.allocate(CLUSTER);
        for (int i = 1; i <= OPS && !reader.isDone(); i++) {
          int c = r.nextInt(CLUSTERS);
          if (model[c] != 0 && r.nextBoolean()) {
            image.discard((long) c * CLUSTER, CLUSTER);
            model[c] = 0;
          } else {
            b.clear();
            while (b.hasRemaining()) {
              b.putInt(i);
            }
            image.write((long) c * CLUSTER, b.flip(), Set.of());
            model[c] = i;
          }
        }
      } finally {
        done.set(true);
      }
      reader.get();
    }
    String check = Qemu.checkJson(dir, "t.qcow2");
    assertThat(check).as("qemu-img check").doesNotContain("corruptions", "leaks");
    FileOptions readOnly = FileOptions.of(CacheMode.WRITEBACK, true);
    try (Qcow2Image image = Qcow2Opener.open(FileDevice.open(path, readOnly), FileContext.of(path, readOnly),
        new Qcow2Format())) {
      ByteBuffer b = ByteBuffer.allocate(CLUSTER);
      int[] expected = new int[CLUSTER / 4];
      int[] got = new int[CLUSTER / 4];
      for (int c = 0; c < CLUSTERS; c++) {
        image.read((long) c * CLUSTER, b.clear());
        b.flip().asIntBuffer().get(got);
        Arrays.fill(expected, model[c]);
        assertThat(got).as("cluster %d", c).isEqualTo(expected);
      }
    }
  }
}
