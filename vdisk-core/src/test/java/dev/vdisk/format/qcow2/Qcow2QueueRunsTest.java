package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request over several clusters that follow each other on the host goes to the file's queue as one request at
 * its host offset, as a request inside one cluster does (a 1 MiB write run through the image instead holds the
 * connection's other requests back until it is done); over clusters apart on the host it runs through the image,
 * which writes each where it lies. What was written is read back through the image either way.
 */
class Qcow2QueueRunsTest {
  private static final int CLUSTER = 65536;
  private static final int RUN = 16 * CLUSTER;

  @TempDir Path dir;

  /** A request that reached the file's queue. */
  private record Below(boolean write, long offset, int length) {}

  @Test
  void aReadAndAnOverwriteOfClustersInOrderOnTheHostAreOneRequestEachBelow() throws IOException {
    Path p = dir.resolve("full.qcow2");
    new Qcow2Format().create(p, 4 * RUN, Map.of("cluster_size", "65536", "preallocation", "full"), false);
    List<Below> below = new ArrayList<>();
    try (Qcow2Image image = open(p, below); RequestQueue q = image.queue(4)) {
      q.write(RUN, pattern(0x5a), 1);
      reapOne(q);
      ByteBuffer back = DirectBuffers.aligned(RUN);
      q.read(RUN, back, 2);
      reapOne(q);
      assertThat(below).hasSize(2);
      long host = below.getFirst().offset();
      assertThat(below).containsExactly(new Below(true, host, RUN), new Below(false, host, RUN));
      assertThat(back.flip()).isEqualTo(pattern(0x5a));
      ByteBuffer guest = ByteBuffer.allocate(RUN);
      image.read(RUN, guest);
      assertThat(guest.flip()).as("the image's own read").isEqualTo(pattern(0x5a));
    }
  }

  @Test
  void clustersApartOnTheHostRunThroughTheImage() throws IOException {
    Path p = dir.resolve("apart.qcow2");
    new Qcow2Format().create(p, 4 * RUN, Map.of("cluster_size", "65536"), false);
    try (Qcow2Image image = open(p, new ArrayList<>())) {
      // The second cluster allocated first: the two lie on the host in the other order, and the first one's host
      // neighbour is the third's (a write that ran on from the first would land there).
      image.write(CLUSTER, pattern(1).limit(CLUSTER), Set.of());
      image.write(0, pattern(2).limit(CLUSTER), Set.of());
      image.write(2 * CLUSTER, pattern(3).limit(CLUSTER), Set.of());
    }
    List<Below> below = new ArrayList<>();
    try (Qcow2Image image = open(p, below); RequestQueue q = image.queue(4)) {
      ByteBuffer data = pattern(0x3c).limit(2 * CLUSTER);
      q.write(0, data, 1);
      reapOne(q);
      ByteBuffer back = DirectBuffers.aligned(2 * CLUSTER);
      q.read(0, back, 2);
      reapOne(q);
      assertThat(below).isEmpty();
      assertThat(back.flip()).isEqualTo(pattern(0x3c).limit(2 * CLUSTER));
      ByteBuffer third = ByteBuffer.allocate(CLUSTER);
      image.read(2 * CLUSTER, third);
      assertThat(third.flip()).isEqualTo(pattern(3).limit(CLUSTER));
    }
  }

  private static Qcow2Image open(Path p, List<Below> below) throws IOException {
    FileOptions options = FileOptions.of(CacheMode.WRITEBACK, false);
    return Qcow2Opener.open(new Recording(FileDevice.open(p, options), below), FileContext.of(p, options),
        new Qcow2Format());
  }

  private static ByteBuffer pattern(int seed) {
    ByteBuffer b = DirectBuffers.aligned(RUN);
    for (int i = 0; i < RUN; i++) {
      b.put(i, (byte) (seed + i / 4096));
    }
    return b;
  }

  private static void reapOne(RequestQueue q) throws IOException {
    assertThat(q.reap(1, (tag, e) -> assertThat(e).as("request %d", tag).isNull())).isEqualTo(1);
  }

  /** The file, with a queue (the synchronous adapter over it) that notes each request reaching it. */
  private static final class Recording extends FilterDevice {
    private final List<Below> below;

    Recording(BlockDevice file, List<Below> below) {
      super(file);
      this.below = below;
    }

    @Override
    public RequestQueue queue(int depth) throws IOException {
      return new ForwardingQueue(RequestQueues.open(next, depth)) {
        @Override
        public void read(long offset, ByteBuffer dst, int tag) throws IOException {
          below.add(new Below(false, offset, dst.remaining()));
          super.read(offset, dst, tag);
        }

        @Override
        public void write(long offset, ByteBuffer src, int tag) throws IOException {
          below.add(new Below(true, offset, src.remaining()));
          super.write(offset, src, tag);
        }
      };
    }
  }
}
