package dev.vdisk.block.filter;

import dev.vdisk.block.FilterDevice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DetectZeroesFilterTest {
  /** What reached the device below: "write off len flags" or "zero off len flags". */
  private final List<String> calls = new ArrayList<>();

  private BlockDevice below() {
    return new FilterDevice(new MemoryDevice(1 << 20)) {
      @Override
      public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
        calls.add("write " + offset + " " + src.remaining() + " " + flags);
        super.write(offset, src, flags);
      }

      @Override
      public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
        calls.add("zero " + offset + " " + length + " " + flags);
        super.writeZeroes(offset, length, flags);
      }
    };
  }

  @Test
  void onTurnsZeroPayloadsIntoZeroWritesThatKeepStorage() throws IOException {
    BlockDevice d = DetectZeroesFilter.wrap(below(), DetectZeroesFilter.Mode.ON);
    ByteBuffer zeroes = ByteBuffer.allocateDirect(200_000);
    d.write(4096, zeroes, EnumSet.of(WriteFlag.FUA));
    assertThat(zeroes.hasRemaining()).isFalse();
    assertThat(calls).containsExactly("zero 4096 200000 [FUA]");
  }

  @Test
  void unmapAddsMayTrim() throws IOException {
    BlockDevice d = DetectZeroesFilter.wrap(below(), DetectZeroesFilter.Mode.UNMAP);
    d.write(0, ByteBuffer.allocate(512), Set.of());
    assertThat(calls).containsExactly("zero 0 512 [MAY_TRIM]");
  }

  @Test
  void anyNonZeroByteKeepsTheWrite() throws IOException {
    BlockDevice d = DetectZeroesFilter.wrap(below(), DetectZeroesFilter.Mode.UNMAP);
    for (int at : new int[] {0, 65_535, 65_536, 199_999}) {
      ByteBuffer b = ByteBuffer.allocateDirect(200_000);
      b.put(at, (byte) 1);
      d.write(0, b, Set.of());
      ByteBuffer back = ByteBuffer.allocate(200_000);
      d.read(0, back);
      assertThat(back.get(at)).isEqualTo((byte) 1);
    }
    assertThat(calls).allMatch(c -> c.startsWith("write 0 200000"));
    assertThat(calls).hasSize(4);
  }

  @Test
  void onlyTheRemainingBytesCount() throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8192);
    b.put(0, (byte) 7); // before position: not part of the write
    b.put(8191, (byte) 7); // after limit
    assertThat(DetectZeroesFilter.isZero(b.position(1).limit(8191))).isTrue();
    assertThat(b.position()).isEqualTo(1);
    assertThat(DetectZeroesFilter.isZero(b.position(0))).isFalse();
  }

  @Test
  void offIsNoFilter() {
    BlockDevice below = below();
    assertThat(DetectZeroesFilter.wrap(below, DetectZeroesFilter.Mode.OFF)).isSameAs(below);
  }

  @Test
  void parsesQemuSpellings() {
    assertThat(DetectZeroesFilter.Mode.parse("unmap")).isEqualTo(DetectZeroesFilter.Mode.UNMAP);
    assertThat(DetectZeroesFilter.Mode.parse("On")).isEqualTo(DetectZeroesFilter.Mode.ON);
    assertThatThrownBy(() -> DetectZeroesFilter.Mode.parse("yes")).hasMessageContaining("expected: off, on or unmap");
  }
}
