package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.RequestQueues;
import dev.vdisk.testkit.Racers;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A shrink while overwrites run over the part it drops must end as one of the serial orders explains: each overwrite
 * either came before the shrink (its bytes dropped with the tail) or after it (refused: out of range). So the image
 * passes {@code qemu-img check} with nothing to report, and an external data file ends at the new size, as QEMU cuts
 * it. Before the fix an overwrite in place that had passed the guard's range check before the shrink could write its
 * cluster after the data file was cut (the file grew back past the virtual size) or after the cluster had been
 * released (a write to a cluster nothing owns), as nothing drained the requests in flight.
 */
class ShrinkRaceIT {
  private static final int CLUSTER = 65536;
  private static final int CLUSTERS = 32;
  private static final long SIZE = (long) CLUSTERS * CLUSTER;
  private static final long NEW_SIZE = SIZE / 2;
  private static final int WRITERS = 3;
  private static final int WRITE = 4096;
  private static final int ROUNDS = 40;
  private static final int DEPTH = 16;

  @TempDir
  Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "data_file=t.data,", "data_file=t.data,data_file_raw=on,"})
  void overwritesRacingAShrinkLeaveAConsistentImage(String dataFile) throws Exception {
    rounds(dataFile, FileOptions.of(CacheMode.WRITEBACK, false), false);
  }

  /** The same with a queue's overwrites, which hold no lock while the kernel has them (cache=none, io_uring). */
  @ParameterizedTest
  @ValueSource(strings = {"", "data_file=t.data,"})
  void queuedOverwritesRacingAShrinkLeaveAConsistentImage(String dataFile) throws Exception {
    rounds(dataFile, FileOptions.of(CacheMode.NONE, false).withAio(Aio.IO_URING), true);
  }

  private void rounds(String dataFile, FileOptions options, boolean queued) throws Exception {
    for (int round = 0; round < ROUNDS; round++) {
      Files.deleteIfExists(dir.resolve("t.qcow2"));
      Files.deleteIfExists(dir.resolve("t.data"));
      Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", dataFile + "cluster_size=" + CLUSTER, "t.qcow2",
          Long.toString(SIZE));
      Qemu.io(dir, "t.qcow2", "write -P 0x11 0 " + SIZE);
      try (OpenImage img = Images.open(dir.resolve("t.qcow2"), "qcow2", options)) {
        Assumptions.assumeTrue(img.file().aio() == options.aio(), options.aio() + " is not available on this kernel");
        race(img.device(), round, queued);
      }
      String check = Qemu.checkJson(dir, "t.qcow2");
      assertThat(check).as("round %d: qemu-img check", round).doesNotContain("\"corruptions\"")
          .doesNotContain("\"leaks\"");
      assertThat(Qemu.img(dir, "info", "--output=json", "t.qcow2")).contains("\"virtual-size\": " + NEW_SIZE);
      if (!dataFile.isEmpty()) {
        assertThat(Files.size(dir.resolve("t.data"))).as("round %d: the data file's size", round).isEqualTo(NEW_SIZE);
      }
    }
  }

  /**
   * WRITERS threads overwrite 4 KiB blocks of the half the shrink drops until it returned (with {@code queued}, each
   * through a queue of its own at depth {@link #DEPTH}); a write refused as out of range (ENOSPC, as past the end,
   * once the size changed) is one serial order, any other failure fails the test.
   */
  private static void race(BlockDevice dev, int round, boolean queued) throws Exception {
    Racers.race(WRITERS, (id, done) -> {
      if (queued) {
        overwriteThroughQueue(dev, id, done);
        return;
      }
      for (int i = 0; !done.get(); i++) {
        try {
          dev.write(tailOffset(i, id), ByteBuffer.allocate(WRITE), Set.of());
        } catch (BlockDeviceException e) {
          refusedPastTheEnd(e);
        }
      }
    }, round % 7 * 200, () -> dev.resize(NEW_SIZE));
  }

  private static void overwriteThroughQueue(BlockDevice dev, int id, AtomicBoolean done) throws Exception {
    try (RequestQueue q = RequestQueues.asynchronous(dev, DEPTH)) {
      List<Integer> free = new ArrayList<>();
      ByteBuffer[] buffers = new ByteBuffer[DEPTH];
      for (int t = 0; t < DEPTH; t++) {
        buffers[t] = DirectBuffers.aligned(WRITE);
        free.add(t);
      }
      for (int i = 0; !done.get() || q.inFlight() > 0; ) {
        while (!done.get() && !free.isEmpty()) {
          int tag = free.removeLast();
          q.write(tailOffset(i++, id), buffers[tag].clear(), tag);
        }
        q.reap(1, (tag, e) -> {
          if (e != null) {
            refusedPastTheEnd(e);
          }
          free.add(tag);
        });
      }
    }
  }

  private static long tailOffset(int i, int writer) {
    return NEW_SIZE + (long) ((i * WRITERS + writer) % ((SIZE - NEW_SIZE) / WRITE)) * WRITE;
  }

  private static void refusedPastTheEnd(IOException e) throws IOException {
    if (!(e instanceof BlockDeviceException b) || b.error() != BlockError.ENOSPC) {
      throw e;
    }
  }
}
