package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import dev.vdisk.testkit.Racers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On an image with {@code data_file_raw=on} the data file must read as the guest disk at every serial point: a
 * zeroing or a discard of a cluster that overwrites are writing in place (the lock-free path) concurrently may come
 * before or after each of them, but the qcow2 view and the raw data file must then agree. Before the fix an
 * overwrite that had looked up its host cluster before the zeroing changed the entry could land in the data file
 * after the zeroing's zeroes: the image read zeroes where the raw file held the overwrite.
 *
 * <p>Each round races writers over one cluster, written whole first, against one zeroing (or discard) of it; afterwards both views of
 * the cluster are compared in-process, and at the end {@code qemu-img compare} of the image against its data file
 * read as raw judges the last round of each cluster (the rounds stop at the first divergence).
 */
class RawDataFileZeroRaceIT {
  private static final int CLUSTER = 65536;
  private static final int ROUNDS = 1000;
  /** Clusters the rounds go round (each round writes its cluster whole first). */
  private static final int CLUSTERS = 64;
  private static final int WRITERS = 3;
  private static final int WRITE = 4096;

  @TempDir
  Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  @Test
  void zeroingAndOverwritesLeaveBothViewsAlike() throws Exception {
    long size = (long) CLUSTERS * CLUSTER;
    // The data file's absolute name: a relative one is relative to the current directory, not the test's for vdisk.
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=" + dir.resolve("t.data") + ",data_file_raw=on,cluster_size="
        + CLUSTER, "t.qcow2", Long.toString(size));
    List<Integer> diverged = new ArrayList<>();
    try (OpenImage img = Images.open(dir.resolve("t.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false));
        FileChannel raw = FileChannel.open(dir.resolve("t.data"), StandardOpenOption.READ)) {
      BlockDevice dev = img.device();
      for (int round = 0; round < ROUNDS; round++) {
        long at = (long) (round % CLUSTERS) * CLUSTER;
        dev.write(at, ByteBuffer.wrap(filled(CLUSTER, 0x11)), Set.of());
        race(dev, at, round);
        byte[] image = Vdisk.read(dev, at, CLUSTER);
        ByteBuffer file = ByteBuffer.allocate(CLUSTER);
        raw.read(file, at);
        if (!Arrays.equals(image, file.array())) {
          diverged.add(round);
          break; // left as it is for qemu-img compare (the next round on this cluster would write it whole)
        }
      }
    }
    String compare = Qemu.imgAllowingExit(dir, 1, "compare", "-f", "qcow2", "-F", "raw", "t.qcow2", "t.data");
    assertThat(compare).as("qemu-img compare, rounds diverged in-process: " + diverged).contains("Images are identical.");
    assertThat(diverged).as("rounds where the image and its raw data file read differently").isEmpty();
  }

  /**
   * WRITERS threads overwrite the cluster at {@code at} in place until one zeroing (even rounds) or discard of it
   * returned. They stop then: a later write would find the zero cluster, allocate it again and copy the image's view
   * of the whole cluster into the data file, hiding a divergence the race left.
   */
  private static void race(BlockDevice dev, long at, int round) throws Exception {
    Racers.race(WRITERS, (id, done) -> {
      for (int i = 0; !done.get(); i++) {
        long offset = at + (long) ((i * WRITERS + id) % (CLUSTER / WRITE)) * WRITE;
        dev.write(offset, ByteBuffer.wrap(filled(WRITE, 0x20 + id)), Set.of());
      }
    }, round % 7 * 50, () -> {
      if (round % 2 == 0) {
        dev.writeZeroes(at, CLUSTER, round % 4 == 0 ? Set.of(WriteFlag.MAY_TRIM) : Set.of());
      } else {
        dev.discard(at, CLUSTER);
      }
    });
  }

  private static byte[] filled(int n, int value) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) value);
    return b;
  }
}
