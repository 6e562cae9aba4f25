package dev.vdisk.io.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class ZeroBytesTest {
  private static final int WINDOW = (int) ZeroBytes.WINDOW;

  @Test
  void zeroesAreZeroAtEveryLength() {
    assertThat(ZeroBytes.available()).isTrue();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(WINDOW + 1);
      for (int length : new int[] {0, 1, 7, 8, 511, 512, 4096, WINDOW - 1, WINDOW}) {
        assertThat(ZeroBytes.isZero(s.address(), length)).as("%d bytes", length).isTrue();
        assertThat(ZeroBytes.isZero(s.address() + 1, length)).as("%d bytes, unaligned", length).isTrue();
      }
    }
  }

  /** One nonzero byte anywhere in the range (first, last, between; any bit) makes it not zero, and none outside it. */
  @Test
  void oneNonzeroByteIsSeenWhereverItIs() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(WINDOW + 2);
      for (int at : new int[] {1, 2, 9, 513, 4097, WINDOW / 2, WINDOW - 1, WINDOW}) {
        for (int bit = 0; bit < 8; bit++) {
          s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at, (byte) (1 << bit));
          assertThat(ZeroBytes.isZero(s.address() + 1, at)).as("byte %d, bit %d", at, bit).isFalse();
          assertThat(ZeroBytes.isZero(s.address() + 1, at - 1)).as("byte %d outside", at).isTrue();
          s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at, (byte) 0);
        }
      }
    }
  }

  @Test
  void aLengthBeyondTheWindowIsRefused() {
    assertThatThrownBy(() -> ZeroBytes.isZero(0, WINDOW + 1L)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> ZeroBytes.isZero(0, -1)).isInstanceOf(IllegalArgumentException.class);
  }
}
