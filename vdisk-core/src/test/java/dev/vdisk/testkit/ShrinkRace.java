package dev.vdisk.testkit;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assumptions;

/**
 * Writers racing a shrink: {@link #WRITERS} threads write aligned 4 KiB blocks of {@link #FILL} over the part the
 * shrink drops until it returned; a write refused as out of range (ENOSPC, as past the end once the size changed) is
 * one serial order, any other failure fails the race.
 */
public final class ShrinkRace {
  public static final int WRITERS = 3;
  public static final byte FILL = 0x22;
  private static final int WRITE = 4096;
  private static final int DEPTH = 16;

  private ShrinkRace() {}

  /**
   * Shrinks {@code dev} from {@code size} to {@code newSize} while the writers run, each writing synchronously or,
   * with {@code queued}, through a queue of its own at depth 16 (skipped where the device has none); {@code round}
   * varies the point at which the shrink meets them.
   */
  public static void race(BlockDevice dev, long size, long newSize, int round, boolean queued) throws Exception {
    Racers.race(WRITERS, (id, done) -> {
      if (queued) {
        writeThroughQueue(dev, size, newSize, id, done);
        return;
      }
      ByteBuffer block = block();
      for (int i = 0; !done.get(); i++) {
        try {
          dev.write(tailOffset(size, newSize, i, id), block.clear(), Set.of());
        } catch (BlockDeviceException e) {
          refusedPastTheEnd(e);
        }
      }
    }, round % 7 * 200, () -> dev.resize(newSize));
  }

  private static void writeThroughQueue(BlockDevice dev, long size, long newSize, int id, AtomicBoolean done)
      throws Exception {
    try (RequestQueue q = RequestQueues.asynchronous(dev, DEPTH)) {
      Assumptions.assumeTrue(q != null, "no asynchronous queue here");
      List<Integer> free = new ArrayList<>();
      ByteBuffer[] buffers = new ByteBuffer[DEPTH];
      for (int t = 0; t < DEPTH; t++) {
        buffers[t] = block();
        free.add(t);
      }
      for (int i = 0; !done.get() || q.inFlight() > 0; ) {
        while (!done.get() && !free.isEmpty()) {
          int tag = free.removeLast();
          q.write(tailOffset(size, newSize, i++, id), buffers[tag].clear(), tag);
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

  private static ByteBuffer block() {
    ByteBuffer b = DirectBuffers.aligned(WRITE);
    while (b.hasRemaining()) {
      b.put(FILL);
    }
    return b.clear();
  }

  private static long tailOffset(long size, long newSize, int i, int writer) {
    return newSize + (long) ((i * WRITERS + writer) % ((size - newSize) / WRITE)) * WRITE;
  }

  private static void refusedPastTheEnd(IOException e) throws IOException {
    if (!(e instanceof BlockDeviceException b) || b.error() != BlockError.ENOSPC) {
      throw e;
    }
  }
}
