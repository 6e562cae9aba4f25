package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;

/**
 * The books of an exactly-once test of an {@link AsyncIo}: a file of {@link #BLOCKS} 4 KiB blocks, block b filled with
 * b + 1, read into one buffer per slot; {@link #check} fails a completion of a free slot, a request completed twice, a
 * short read or bytes not of the block the request asked for.
 */
final class AsyncIoLedger {
  static final int BLOCKS = 64;
  private static final int BLOCK = 4096;

  private final MemorySegment buffers;
  /** The request each slot holds, -1 when free. */
  private final int[] requestOf;
  private final List<Integer> blockOf = new ArrayList<>();
  private final BitSet done = new BitSet();

  /** Completions checked as described above. */
  final AsyncIo.Completion check = this::completed;

  AsyncIoLedger(Arena arena, int depth) {
    this.buffers = arena.allocate((long) depth * BLOCK, BLOCK);
    this.requestOf = new int[depth];
    Arrays.fill(requestOf, -1);
  }

  /** Writes the blocks to {@code p}. */
  static Path file(Path p) throws IOException {
    byte[] data = new byte[BLOCKS * BLOCK];
    for (int b = 0; b < BLOCKS; b++) {
      Arrays.fill(data, b * BLOCK, (b + 1) * BLOCK, (byte) (b + 1));
    }
    return Files.write(p, data);
  }

  /** Prepares the next request, a read of {@code block} into {@code slot}'s buffer. */
  void read(AsyncIo aio, int slot, int block) {
    requestOf[slot] = blockOf.size();
    blockOf.add(block);
    aio.prepare(slot, false, buffers.address() + (long) slot * BLOCK, BLOCK, (long) block * BLOCK);
  }

  boolean free(int slot) {
    return requestOf[slot] < 0;
  }

  /** Requests prepared so far. */
  int requests() {
    return blockOf.size();
  }

  /** Requests completed so far. */
  int completed() {
    return done.cardinality();
  }

  private void completed(int slot, long result) {
    int request = requestOf[slot];
    assertThat(request).as("slot %d completed while free", slot).isNotNegative();
    assertThat(done.get(request)).as("request %d completed twice", request).isFalse();
    done.set(request);
    requestOf[slot] = -1;
    assertThat(result).isEqualTo((long) BLOCK);
    byte expected = (byte) (blockOf.get(request) + 1);
    MemorySegment buf = buffers.asSlice((long) slot * BLOCK, BLOCK);
    assertThat(buf.get(JAVA_BYTE, 0)).isEqualTo(expected);
    assertThat(buf.get(JAVA_BYTE, BLOCK - 1)).isEqualTo(expected);
  }
}
