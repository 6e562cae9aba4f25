package dev.vdisk.io.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
}
