package dev.vdisk.ops.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@link CopyPipeline} and {@link ChunkReader}: the bytes arrive whole, and a failure reaches the caller. */
class CopyPipelineTest {
  private static final int MIB = 1 << 20;

  @Test
  void copiesEveryRangeWhole() throws IOException {
    MemoryDevice from = random(8 * MIB, 1);
    MemoryDevice to = new MemoryDevice(8 * MIB);
    try (CopyPipeline copies = new CopyPipeline(from, to, 4, MIB)) {
      for (long at = 0; at < 8 * MIB; at += MIB - 4096) {
        copies.copy(at, (int) Math.min(MIB - 4096, 8 * MIB - at));
      }
      copies.finish();
    }
    assertThat(bytes(to)).isEqualTo(bytes(from));
  }

  @Test
  void aFailedCopyIsThrownWithItsError() throws IOException {
    BlockDevice from = failingAt(random(4 * MIB, 2), 2 * MIB);
    MemoryDevice to = new MemoryDevice(4 * MIB);
    assertThatThrownBy(() -> {
      try (CopyPipeline copies = new CopyPipeline(from, to, 2, MIB)) {
        for (long at = 0; at < 4 * MIB; at += MIB) {
          copies.copy(at, MIB);
        }
        copies.finish();
      }
    }).isInstanceOf(BlockDeviceException.class).hasMessageContaining("injected");
  }

  @Test
  void chunksComeBackInOrderWithBothDevicesBytes() throws IOException {
    MemoryDevice a = random(6 * MIB, 3);
    MemoryDevice b = random(6 * MIB, 4);
    long expected = 0;
    try (ChunkReader reader = new ChunkReader(2, MIB)) {
      for (long at = 0; at < 6 * MIB; at += MIB) {
        ChunkReader.Chunk c = reader.read(at, MIB, a, at < 3 * MIB ? b : null);
        if (c != null) {
          expected = check(c, a, b, expected);
        }
      }
      for (ChunkReader.Chunk c; (c = reader.next()) != null; ) {
        expected = check(c, a, b, expected);
      }
    }
    assertThat(expected).isEqualTo(6 * MIB);
  }

  @Test
  void aFailedChunkReadIsThrownWhenTaken() throws IOException {
    BlockDevice a = failingAt(random(2 * MIB, 5), 0);
    try (ChunkReader reader = new ChunkReader(1, MIB)) {
      assertThat(reader.read(0, MIB, a, null)).isNull();
      assertThatThrownBy(reader::next).isInstanceOf(BlockDeviceException.class).hasMessageContaining("injected");
    }
  }

  private static long check(ChunkReader.Chunk c, BlockDevice a, BlockDevice b, long expected) throws IOException {
    assertThat(c.offset()).isEqualTo(expected);
    assertThat(c.old()).isEqualTo(slice(a, c.offset()));
    assertThat(c.now()).isEqualTo(c.offset() < 3 * MIB ? slice(b, c.offset()) : ByteBuffer.allocate(MIB));
    c.release();
    return expected + MIB;
  }

  private static ByteBuffer slice(BlockDevice d, long offset) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(MIB);
    d.read(offset, b);
    return b.flip();
  }

  private static MemoryDevice random(int size, long seed) throws IOException {
    byte[] bytes = new byte[size];
    new Random(seed).nextBytes(bytes);
    MemoryDevice d = new MemoryDevice(size);
    d.write(0, ByteBuffer.wrap(bytes), Set.of());
    return d;
  }

  private static byte[] bytes(BlockDevice d) throws IOException {
    ByteBuffer b = ByteBuffer.allocate((int) d.size());
    d.read(0, b);
    return b.array();
  }

  private static BlockDevice failingAt(BlockDevice next, long offset) {
    return new FilterDevice(next) {
      @Override
      public void read(long at, ByteBuffer dst) throws IOException {
        if (at <= offset && offset < at + dst.remaining()) {
          throw new BlockDeviceException(BlockError.EIO, "injected read error at " + offset);
        }
        super.read(at, dst);
      }
    };
  }
}
