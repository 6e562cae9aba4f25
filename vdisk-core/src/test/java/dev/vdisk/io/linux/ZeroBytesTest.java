package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class ZeroBytesTest {
  private static final int SIZE = 3 * 1024 * 1024 + 3;

  @Test
  void zeroesAreZeroAtEveryLength() {
    assertThat(ZeroBytes.available()).isTrue();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(SIZE);
      for (int length : new int[] {0, 1, 2, 7, 8, 511, 512, 4096, 65_536, 2 * 1024 * 1024, SIZE - 1}) {
        assertThat(ZeroBytes.isZero(s, 0, length)).as("%d bytes", length).isTrue();
        assertThat(ZeroBytes.isZero(s, 1, length)).as("%d bytes, unaligned", length).isTrue();
      }
    }
  }

  /**
   * One nonzero byte anywhere in the range (its first byte, its last, between; any bit) makes it not zero, and one
   * just outside it does not.
   */
  @Test
  void oneNonzeroByteIsSeenWhereverItIs() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(SIZE);
      for (int at : new int[] {1, 2, 9, 513, 4097, 65_536, 65_537, 2 * 1024 * 1024, SIZE - 1}) {
        for (int bit = 0; bit < 8; bit++) {
          s.set(JAVA_BYTE, at, (byte) (1 << bit));
          assertThat(ZeroBytes.isZero(s, 1, at)).as("byte %d, bit %d, last", at, bit).isFalse();
          assertThat(ZeroBytes.isZero(s, at, SIZE - at)).as("byte %d, bit %d, first", at, bit).isFalse();
          assertThat(ZeroBytes.isZero(s, 0, at)).as("byte %d just after", at).isTrue();
          assertThat(ZeroBytes.isZero(s, at + 1, SIZE - at - 1)).as("byte %d just before", at).isTrue();
          s.set(JAVA_BYTE, at, (byte) 0);
        }
      }
    }
  }

  @Test
  void aRangeOutsideTheSegmentOrOnTheHeapIsRefused() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(16);
      assertThatThrownBy(() -> ZeroBytes.isZero(s, 8, 9)).isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> ZeroBytes.isZero(s, -1, 1)).isInstanceOf(IndexOutOfBoundsException.class);
    }
    assertThatThrownBy(() -> ZeroBytes.isZero(MemorySegment.ofArray(new byte[8]), 0, 8))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
