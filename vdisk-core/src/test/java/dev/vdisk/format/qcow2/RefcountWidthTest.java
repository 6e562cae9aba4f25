package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RefcountWidthTest {
  /** Narrow entries fill each byte from bit 0, as QEMU's get_refcount_ro0..ro2 read them. */
  @Test
  void narrowEntriesArePackedFromTheLeastSignificantBit() {
    ByteBuffer block = ByteBuffer.wrap(new byte[] {(byte) 0b1011_0010, (byte) 0xe4});
    RefcountWidth one = new RefcountWidth(0);
    assertThat(new long[] {one.get(block, 0), one.get(block, 1), one.get(block, 4), one.get(block, 5), one.get(block, 7), one.get(block, 8)})
        .containsExactly(0, 1, 1, 1, 1, 0);
    RefcountWidth two = new RefcountWidth(1);
    assertThat(new long[] {two.get(block, 0), two.get(block, 1), two.get(block, 2), two.get(block, 3), two.get(block, 4), two.get(block, 7)})
        .containsExactly(2, 0, 3, 2, 0, 3);
    RefcountWidth four = new RefcountWidth(2);
    assertThat(new long[] {four.get(block, 0), four.get(block, 1), four.get(block, 2), four.get(block, 3)})
        .containsExactly(2, 11, 4, 14);
  }

  @Test
  void wideEntriesAreBigEndianAndUnsigned() {
    ByteBuffer block = ByteBuffer.allocate(16).putLong(0, 0xfedc_ba98_7654_3210L).putLong(8, -1L);
    assertThat(new RefcountWidth(3).get(block, 1)).isEqualTo(0xdc);
    assertThat(new RefcountWidth(4).get(block, 1)).isEqualTo(0xba98);
    assertThat(new RefcountWidth(5).get(block, 0)).isEqualTo(0xfedc_ba98L);
    assertThat(new RefcountWidth(6).get(block, 1)).isEqualTo(-1L).isEqualTo(new RefcountWidth(6).max());
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6})
  void aBlockHoldsClusterSizeTimesEightDividedByWidthEntries(int order) {
    RefcountWidth w = new RefcountWidth(order);
    assertThat(1L << w.blockBits(16)).isEqualTo(65536L * 8 / w.bits());
    assertThat(w.max()).isEqualTo(order == 6 ? -1L : (1L << w.bits()) - 1);
  }

  @Test
  void refusesOrdersOutsideZeroToSix() {
    assertThatThrownBy(() -> new RefcountWidth(7)).hasMessage("refcount_order: 7 (expected: 0 to 6)");
  }
}
