package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@link AioQueueTest}'s cases over a file's io_uring queue ({@code aio=io_uring}, cache=none: a ring of the queue's
 * own), and each request completing exactly once, with its own bytes, over many wrap-arounds of the rings. Skipped,
 * saying so, on a kernel that refuses io_uring.
 */
class UringQueueTest extends AioQueueTest {
  @Override
  Aio aio() {
    return Aio.IO_URING;
  }

  @Override
  String call() {
    return "io_uring";
  }

  @Test
  void eachRequestCompletesOnceWithItsBytesAcrossTheRingsWrapAround() throws IOException {
    int blocks = 256;
    byte[] data = new byte[blocks * 4096];
    for (int b = 0; b < blocks; b++) {
      Arrays.fill(data, b * 4096, (b + 1) * 4096, (byte) (b + 1));
    }
    Path p = dir.resolve("wrap.raw");
    Files.write(p, data);
    int depth = 4;
    try (FileDevice dev = FileDevice.open(p, FileOptions.of(CacheMode.NONE, true).withAio(Aio.IO_URING))) {
      Assumptions.assumeTrue(dev.aio() == Aio.IO_URING, "io_uring is not available on this kernel");
      try (RequestQueue q = dev.queue(depth)) {
        assertThat(q).isInstanceOf(AioQueue.class);
        int requests = 3000;
        int[] blockOf = new int[requests];
        ByteBuffer[] bufs = new ByteBuffer[requests];
        BitSet done = new BitSet();
        ArrayDeque<ByteBuffer> free = new ArrayDeque<>();
        for (int i = 0; i < depth; i++) {
          free.add(DirectBuffers.aligned(4096));
        }
        Random rnd = new Random(6);
        int next = 0;
        while (done.cardinality() < requests) {
          // 1 to depth requests at a time, reaped 1 to all at a time: the SQ and CQ indexes wrap at varying phases.
          while (next < requests && q.inFlight() < depth && (q.inFlight() == 0 || rnd.nextInt(4) != 0)) {
            blockOf[next] = rnd.nextInt(blocks);
            bufs[next] = free.poll().clear();
            q.read((long) blockOf[next] * 4096, bufs[next], next);
            next++;
          }
          q.reap(1 + rnd.nextInt(q.inFlight()), (tag, e) -> {
            assertThat(e).isNull();
            assertThat(done.get(tag)).as("request %d completed twice", tag).isFalse();
            done.set(tag);
            ByteBuffer b = bufs[tag];
            assertThat(b.hasRemaining()).isFalse();
            assertThat(b.get(0)).isEqualTo((byte) (blockOf[tag] + 1));
            assertThat(b.get(4095)).isEqualTo((byte) (blockOf[tag] + 1));
            bufs[tag] = null;
            free.add(b);
          });
        }
        assertThat(next).isEqualTo(requests);
        assertThat(q.inFlight()).isZero();
      }
    }
  }
}
