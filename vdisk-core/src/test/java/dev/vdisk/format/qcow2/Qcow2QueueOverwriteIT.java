package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import dev.vdisk.testkit.Peers;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What a writable image's queue ({@link WritableImageQueue}) may send straight to the file as an overwrite, and
 * what it must not: a cluster an internal snapshot shares (refcount 2, no COPIED flag) is copied before the first
 * write changes it, and QEMU still reads the snapshot's old contents after the queue's writes (the fast path would
 * have written into the shared cluster); an overwrite of a cluster the image owns marks the enabled persistent
 * bitmaps as the same writes made by qemu-io mark them (qemu-nbd -B, nbdinfo --map).
 */
class Qcow2QueueOverwriteIT {
  private static final int CLUSTER = 65536;
  private static final int CLUSTERS = 16;
  private static final int BLOCK = 4096;

  @TempDir Path dir;

  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"NATIVE", "IO_URING"})
  void aClusterASnapshotSharesIsCopiedBeforeTheQueueWritesIt(Aio aio) throws Exception {
    Qemu.require();
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER, "q.qcow2",
        Long.toString((long) CLUSTERS * CLUSTER));
    Qemu.io(dir, "q.qcow2", "write -q -P 0x11 0 " + (long) CLUSTERS * CLUSTER);
    Qemu.img(dir, "snapshot", "-c", "s1", "q.qcow2");
    // Two 4 KiB writes per cluster, both in flight at once: the first copies the shared cluster, the second may
    // then overwrite the copy in place.
    List<long[]> writes = new ArrayList<>();
    for (int c = 0; c < CLUSTERS; c++) {
      writes.add(new long[] {(long) c * CLUSTER + BLOCK, 0x22});
      writes.add(new long[] {(long) c * CLUSTER + 3 * BLOCK, 0x33});
    }
    writeThroughQueue(aio, writes);

    assertThat(Qemu.checkJson(dir, "q.qcow2")).doesNotContain("\"corruptions\"").doesNotContain("\"leaks\"");
    List<String> reads = new ArrayList<>();
    for (int c = 0; c < CLUSTERS; c++) {
      long at = (long) c * CLUSTER;
      reads.add("read -q -P 0x11 " + at + " " + BLOCK);
      reads.add("read -q -P 0x22 " + (at + BLOCK) + " " + BLOCK);
      reads.add("read -q -P 0x11 " + (at + 2 * BLOCK) + " " + BLOCK);
      reads.add("read -q -P 0x33 " + (at + 3 * BLOCK) + " " + BLOCK);
      reads.add("read -q -P 0x11 " + (at + 4 * BLOCK) + " " + (CLUSTER - 4 * BLOCK));
    }
    Qemu.io(dir, "q.qcow2", reads.toArray(String[]::new));
    Qemu.img(dir, "snapshot", "-a", "s1", "q.qcow2");
    Qemu.io(dir, "q.qcow2", "read -q -P 0x11 0 " + (long) CLUSTERS * CLUSTER);
  }

  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"NATIVE", "IO_URING"})
  void anOverwriteMarksTheEnabledBitmapsAsQemuMarksThem(Aio aio) throws Exception {
    Qemu.require();
    Peers.require("qemu-nbd");
    Peers.require("nbdinfo");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER, "q.qcow2",
        Long.toString((long) CLUSTERS * CLUSTER));
    Qemu.io(dir, "q.qcow2", "write -q -P 0x11 0 " + (long) CLUSTERS * CLUSTER);
    Qemu.img(dir, "bitmap", "--add", "-g", "65536", "q.qcow2", "b0");
    Qemu.img(dir, "bitmap", "--add", "--disable", "-g", "65536", "q.qcow2", "off");
    Files.copy(dir.resolve("q.qcow2"), dir.resolve("qemu.qcow2"));
    List<long[]> writes = new ArrayList<>();
    List<String> same = new ArrayList<>();
    for (int c : new int[] {1, 5, 6, 12}) {
      long at = (long) c * CLUSTER + 2 * BLOCK;
      writes.add(new long[] {at, 0x44});
      same.add("write -q -P 0x44 " + at + " " + BLOCK);
    }
    writeThroughQueue(aio, writes);
    Qemu.io(dir, "qemu.qcow2", same.toArray(String[]::new));

    assertThat(Qemu.checkJson(dir, "q.qcow2")).doesNotContain("\"corruptions\"").doesNotContain("\"leaks\"");
    String ours = dirty(dir, "q.qcow2", "b0");
    assertThat(ours).as("b0 marks the written clusters").contains("dirty");
    assertThat(ours).as("dirty runs of b0").isEqualTo(dirty(dir, "qemu.qcow2", "b0"));
    assertThat(dirty(dir, "q.qcow2", "off")).as("a disabled bitmap stays clean").doesNotContain("dirty")
        .isEqualTo(dirty(dir, "qemu.qcow2", "off"));
  }

  /** The runs of bitmap {@code name} as qemu-nbd -B exports it and nbdinfo --map prints them. */
  private static String dirty(Path dir, String image, String name) throws IOException, InterruptedException {
    return Qemu.tool(dir, "nbdinfo", "--map=qemu:dirty-bitmap:" + name, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
        "-B", name, image, "]");
  }

  /** Writes each {offset, pattern} 4 KiB through the queue of q.qcow2 opened under cache=none with {@code aio}, at depth 16. */
  private void writeThroughQueue(Aio aio, List<long[]> writes) throws IOException {
    try (OpenImage rw = Images.open(dir.resolve("q.qcow2"), "qcow2", FileOptions.of(CacheMode.NONE, false).withAio(aio))) {
      Assumptions.assumeTrue(rw.file().aio() == aio, aio + " is not available on this kernel");
      try (RequestQueue q = RequestQueues.asynchronous(rw.device(), 16)) {
        assertThat(q).isNotNull();
        ByteBuffer[] bufs = new ByteBuffer[16];
        List<Integer> free = new ArrayList<>();
        for (int t = 0; t < bufs.length; t++) {
          bufs[t] = DirectBuffers.aligned(BLOCK);
          free.add(t);
        }
        int next = 0;
        int[] inFlight = {0};
        while (next < writes.size() || inFlight[0] > 0) {
          while (!free.isEmpty() && next < writes.size()) {
            int tag = free.removeLast();
            long[] w = writes.get(next++);
            ByteBuffer buf = bufs[tag].clear().limit(BLOCK);
            for (int k = 0; k < BLOCK; k++) {
              buf.put(k, (byte) w[1]);
            }
            q.write(w[0], buf, tag);
            inFlight[0]++;
          }
          q.reap(1, (tag, e) -> {
            if (e != null) {
              throw e;
            }
            free.add(tag);
            inFlight[0]--;
          });
        }
      }
    }
  }
}
