package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** ExactDecimal against BigDecimal, the exact arithmetic it replaces on the start-up path. */
class ExactDecimalTest {

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "0|0|0", "0|2|0.00", "0.125|2|0.12", "0.375|2|0.38", "2.5|0|2", "3.5|0|4", "0.9765625|3|0.977", "12.5|2|12.50",
      "1.5|6|1.500000", "1e-7|6|0.000000", "5e-7|6|0.000000", "5.000001e-7|6|0.000001", "123456789.125|2|123456789.12", "-1.5|2|-1.50",
      "-0.001|2|0.00", "4.9E-324|3|0.000", "1e20|0|100000000000000000000"})
  void roundsTheExactBinaryValueHalfToEven(double value, int decimals, String expected) {
    assertThat(ExactDecimal.fixed(value, decimals)).isEqualTo(expected);
  }

  @Property
  void agreesWithBigDecimal(@ForAll double value, @ForAll @IntRange(min = 0, max = 8) int decimals) {
    if (!Double.isFinite(value)) {
      assertThatThrownBy(() -> ExactDecimal.fixed(value, decimals)).isInstanceOf(NumberFormatException.class);
      return;
    }
    assertThat(ExactDecimal.fixed(value, decimals))
        .isEqualTo(new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString());
  }

  @Property
  void agreesWithBigDecimalOnTies(@ForAll @LongRange(min = 0, max = 1L << 40) long halves,
      @ForAll @IntRange(min = 0, max = 3) int decimals) {
    double value = (halves + 0.5) / Math.pow(10, decimals); // not exact: lands on both sides of the tie
    assertThat(ExactDecimal.fixed(value, decimals))
        .isEqualTo(new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString());
  }

  /** Sizes.human's %0.3g, as the BigDecimal rounding it had before (which SizesTest ties to qemu-img's output). */
  @Property
  void humanSizesAgreeWithBigDecimalRounding(@ForAll @LongRange(min = 1, max = Long.MAX_VALUE) long bytes) {
    String text = Sizes.human(bytes);
    String number = text.substring(0, text.indexOf(' '));
    int exp = Math.getExponent(bytes / (1000.0 / 1024.0)) + 1;
    double value = (double) bytes / (1L << ((exp - 1) / 10 * 10));
    BigDecimal rounded = new BigDecimal(value).round(new MathContext(3, RoundingMode.HALF_EVEN));
    String expected = rounded.compareTo(BigDecimal.valueOf(1000)) >= 0 ? "1e+03" : rounded.stripTrailingZeros().toPlainString();
    assertThat(number).isEqualTo(expected);
  }

  @Property
  void smallHumanSizesAgreeWithBigDecimalRounding(@ForAll @LongRange(min = 1, max = 1L << 42) long bytes) {
    humanSizesAgreeWithBigDecimalRounding(bytes);
  }

  @Test
  void refusesNegativeDecimals() {
    assertThatThrownBy(() -> ExactDecimal.fixed(1, -1)).hasMessageContaining("(expected: 0 or more)");
  }
}
