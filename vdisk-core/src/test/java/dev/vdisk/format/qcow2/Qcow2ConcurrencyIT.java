package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many threads write, zero, discard and flush a qcow2 image at once, each in its own stripe of the disk (so each
 * has a model of its own), with clusters shared between neighbouring stripes' requests and a backing image
 * under the whole disk: afterwards every stripe reads as its model says and {@code qemu-img
 * check} finds no corruption and no leak.
 */
class Qcow2ConcurrencyIT {
  private static final int THREADS = 8;
  private static final int OPS = 300;

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  @ParameterizedTest
  @ValueSource(ints = {4096, 65536, 32768})
  void concurrentRequestsLeaveAConsistentImage(int clusterSize) throws Exception {
    String options = "cluster_size=" + clusterSize + (clusterSize == 32768 ? ",extended_l2=on" : "");
    int size = 16 << 20;
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", Integer.toString(size));
    Qemu.io(dir, "base.qcow2", "write -P 0x5b 0 " + size);
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, "-b", "base.qcow2", "-F", "qcow2",
        "top.qcow2", Integer.toString(size));
    // Stripes are not cluster aligned: requests of neighbours meet inside clusters.
    int stripe = size / THREADS;
    byte[] expected = new byte[size];
    Arrays.fill(expected, (byte) 0x5b);
    try (OpenImage img = Images.open(dir.resolve("top.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
      BlockDevice dev = img.device();
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int from = t * stripe + 1000;
        int to = (t + 1) * stripe - 1000;
        long seed = t;
        done.add(pool.submit(() -> {
          Random random = new Random(seed);
          for (int op = 0; op < OPS; op++) {
            int at = from + random.nextInt(to - from - 1);
            int len = 1 + random.nextInt(Math.min(to - at, 3 * clusterSize));
            switch (random.nextInt(9)) {
              case 0 -> dev.flush();
              case 8 -> {
                // Whole clusters of a discard read as zeroes (a version 3 image with a backing file).
                dev.discard(at, len);
                int first = (at + clusterSize - 1) / clusterSize * clusterSize;
                int last = (at + len) / clusterSize * clusterSize;
                if (first < last) {
                  Arrays.fill(expected, first, last, (byte) 0);
                }
              }
              case 1 -> {
                // Whole clusters inside the range become zero clusters; the stripe's edges stay data.
                dev.writeZeroes(at, len, Set.of(WriteFlag.MAY_TRIM));
                Arrays.fill(expected, at, at + len, (byte) 0);
              }
              default -> {
                byte[] data = new byte[len];
                random.nextBytes(data);
                dev.write(at, ByteBuffer.wrap(data), Set.of());
                System.arraycopy(data, 0, expected, at, len);
              }
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
      pool.shutdown();
      assertThat(Vdisk.read(dev, 0, size)).isEqualTo(expected);
    }
    try (OpenImage img = Images.open(dir.resolve("top.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, true))) {
      assertThat(Vdisk.read(img.device(), 0, size)).as("after reopening").isEqualTo(expected);
    }
    String check = Qemu.img(dir, "check", "top.qcow2");
    assertThat(check).contains("No errors were found on the image.");
  }

  /**
   * Writes racing discards of the same clusters (issue 13, fault 1): each request succeeds whichever wins, every
   * cluster ends as the last write left it or as a discard left it (zeroes), and qemu-img check finds the image
   * clean. Before the fix an overwrite whose cluster was discarded between its ownership check and its write asked
   * for host offset -1 ("Negative position").
   */
  @ParameterizedTest
  @ValueSource(ints = {512, 4096})
  void writesRacingDiscardsOfTheSameClustersAllSucceed(int clusterSize) throws Exception {
    int span = 32 * clusterSize;
    int rounds = 3000;
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + clusterSize, "race.qcow2",
        Integer.toString(4 * span));
    try (OpenImage img = Images.open(dir.resolve("race.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
      BlockDevice dev = img.device();
      ExecutorService pool = Executors.newFixedThreadPool(2);
      Future<?> writer = pool.submit(() -> {
        for (int round = 0; round < rounds; round++) {
          byte[] data = new byte[span];
          Arrays.fill(data, (byte) (1 + round % 255));
          dev.write(span, ByteBuffer.wrap(data), Set.of());
        }
        return null;
      });
      Future<?> trimmer = pool.submit(() -> {
        for (int round = 0; !writer.isDone(); round++) {
          dev.discard(span, span);
          if (round % 100 == 99) {
            dev.flush(); // frees the discarded clusters, so later writes reuse them
          }
        }
        return null;
      });
      writer.get();
      trimmer.get();
      pool.shutdown();
      byte[] all = Vdisk.read(dev, span, span);
      for (int c = 0; c < span; c += clusterSize) {
        byte[] cluster = Arrays.copyOfRange(all, c, c + clusterSize);
        byte first = cluster[0];
        assertThat(cluster).as("cluster at %d: one write's bytes or a discard's zeroes", span + c)
            .containsOnly(first);
      }
    }
    String check = Qemu.img(dir, "check", "race.qcow2");
    assertThat(check).contains("No errors were found on the image.");
  }
}
