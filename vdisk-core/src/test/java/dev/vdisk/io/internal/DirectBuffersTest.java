package dev.vdisk.io.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.io.linux.HugePages;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class DirectBuffersTest {
  @Test
  void buffersAreAlignedForODirectWhateverTheirSize() {
    for (int n : new int[] {0, 1, 1000, 4095, 4096, 5000, 65536}) {
      ByteBuffer b = DirectBuffers.aligned(n);
      assertThat(b.isDirect()).isTrue();
      assertThat(b.position()).isZero();
      assertThat(b.remaining()).isEqualTo(n);
      assertThat(b.capacity()).isGreaterThanOrEqualTo(n);
      assertThat(b.alignmentOffset(0, 4096)).isZero();
    }
  }

  @Test
  void refusesSizesItCannotAlign() {
    assertThatThrownBy(() -> DirectBuffers.aligned(-1)).hasMessageContaining("buffer size: -1");
    assertThatThrownBy(() -> DirectBuffers.aligned(Integer.MAX_VALUE)).hasMessageContaining("(expected: 0 to");
  }

  /**
   * Each buffer is aligned, of its size, disjoint from the others and, where the system has transparent huge pages,
   * within one huge page (so physically contiguous) when it is no larger than one.
   */
  @Test
  void contiguousBuffersAreDisjointAlignedAndEachWithinOneHugePage() {
    assertContiguous(HugePages.size());
  }

  /** A system without transparent huge pages (switched off, or no sysfs) gets ordinary aligned buffers. */
  @Test
  void contiguousBuffersWithoutHugePagesAreOrdinaryAlignedOnes() {
    assertContiguous(0);
  }

  private static void assertContiguous(long huge) {
    for (int n : new int[] {0, 1, 4096, 5000, 65536, 1 << 20, 3 << 20}) {
      for (int count : new int[] {1, 3, 4, 16}) {
        ByteBuffer[] bufs = DirectBuffers.contiguous(count, n, huge);
        assertThat(bufs).hasSize(count);
        long[] starts = new long[count];
        for (int i = 0; i < count; i++) {
          ByteBuffer b = bufs[i];
          assertThat(b.isDirect()).isTrue();
          assertThat(b.position()).isZero();
          assertThat(b.remaining()).isEqualTo(n);
          assertThat(b.alignmentOffset(0, DirectBuffers.ALIGNMENT)).isZero();
          starts[i] = MemorySegment.ofBuffer(b).address();
          if (huge > 0 && n > 0 && n <= huge) {
            assertThat(starts[i] / huge).as("buffer %d of %d x %d", i, count, n).isEqualTo((starts[i] + n - 1) / huge);
          }
        }
        for (int i = 0; i < count; i++) {
          for (int j = i + 1; j < count; j++) {
            assertThat(starts[i] + n <= starts[j] || starts[j] + n <= starts[i] || n == 0)
                .as("buffers %d and %d of %d x %d overlap", i, j, count, n).isTrue();
          }
        }
        for (int i = 0; i < count; i++) { // writable, each its own bytes
          if (n > 0) {
            bufs[i].put(0, (byte) (i + 1)).put(n - 1, (byte) (i + 1));
          }
        }
        for (int i = 0; i < count; i++) {
          if (n > 0) {
            assertThat(bufs[i].get(0)).isEqualTo((byte) (i + 1));
            assertThat(bufs[i].get(n - 1)).isEqualTo((byte) (i + 1));
          }
        }
      }
    }
  }

  @Test
  void contiguousRefusesNegativeCountsAndSizes() {
    assertThatThrownBy(() -> DirectBuffers.contiguous(-1, 4096)).hasMessageContaining("buffer count: -1");
    assertThatThrownBy(() -> DirectBuffers.contiguous(1, -1)).hasMessageContaining("buffer size: -1");
    assertThat(DirectBuffers.contiguous(0, 4096)).isEmpty();
  }
}
