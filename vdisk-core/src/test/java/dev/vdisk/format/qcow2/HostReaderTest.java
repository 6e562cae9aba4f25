package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HostReaderTest {
  private static final int SIZE = 100_000;

  /** A device that, like an O_DIRECT file, takes only 4 KiB-aligned requests within its size rounded up. */
  private static BlockDevice aligned(byte[] content) throws IOException {
    MemoryDevice mem = new MemoryDevice(SIZE + 4096);
    mem.write(0, ByteBuffer.wrap(content), Set.of());
    return new FilterDevice(mem) {
      @Override
      public long size() {
        return SIZE;
      }

      @Override
      public BlockLimits limits() {
        return new BlockLimits(4096, 1 << 16, 4096, 4096);
      }

      @Override
      public void read(long offset, ByteBuffer dst) throws IOException {
        if (offset < 0 || offset % 4096 != 0 || dst.remaining() % 4096 != 0 || dst.remaining() > 1 << 16 || offset + dst.remaining() > SIZE + 4095) {
          throw new AssertionError("misaligned or oversized read " + offset + "+" + dst.remaining());
        }
        super.read(offset, dst);
      }
    };
  }

  private static byte[] content() {
    byte[] b = new byte[SIZE];
    for (int i = 0; i < SIZE; i++) {
      b[i] = (byte) (i * 31 + i / 7);
    }
    return b;
  }

  @Test
  void unalignedRangesOfAnAlignedDevice() throws Exception {
    byte[] c = content();
    HostReader r = new HostReader(aligned(c), "image file");
    for (int[] range : new int[][] {{0, 1}, {1, 4095}, {4095, 2}, {5000, 70_000}, {SIZE - 3, 3}, {12345, 0}}) {
      ByteBuffer got = r.readMetadata("test", range[0], range[1]);
      assertThat(got.remaining()).isEqualTo(range[1]);
      assertThat(Arrays.copyOfRange(got.array(), 0, range[1])).isEqualTo(Arrays.copyOfRange(c, range[0], range[0] + range[1]));
    }
  }

  @Test
  void dataPastTheEndReadsAsZeroesWithoutAskingTheDevice() throws Exception {
    byte[] c = content();
    HostReader r = new HostReader(aligned(c), "image file");
    ByteBuffer dst = ByteBuffer.allocate(10_000);
    r.readData(SIZE - 100, dst);
    assertThat(dst.hasRemaining()).isFalse();
    assertThat(Arrays.copyOf(dst.array(), 100)).isEqualTo(Arrays.copyOfRange(c, SIZE - 100, SIZE));
    assertThat(Arrays.copyOfRange(dst.array(), 100, 10_000)).containsOnly(0);
    ByteBuffer beyond = ByteBuffer.allocate(512);
    r.readData(1L << 40, beyond);
    assertThat(beyond.array()).containsOnly(0);
    // An offset with bit 63 set (a mutated refcount table entry, CheckFuzzIT) is past every file's end too.
    ByteBuffer negative = ByteBuffer.allocate(512);
    r.readData(0xffff_ffff_ffff_fe00L, negative);
    assertThat(negative.array()).containsOnly(0);
  }

  @Test
  void metadataPastTheEndIsRefused() throws Exception {
    HostReader r = new HostReader(aligned(content()), "image file");
    assertThatThrownBy(() -> r.readMetadata("L2 table", SIZE - 10, 11))
        .hasMessage("L2 table: offset 99990 length 11 (expected: inside the image file of 100000 bytes)");
  }
}
