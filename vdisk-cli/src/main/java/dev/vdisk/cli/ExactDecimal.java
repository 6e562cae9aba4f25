package dev.vdisk.cli;

import java.math.BigInteger;

/**
 * C's {@code printf("%.Nf")} of a double as glibc computes it: the exact binary value, rounded half to even.
 *
 * <p>Computed with {@link BigInteger} rather than {@code BigDecimal}, whose class initialiser computes 5^65536:
 * about 15 ms of interpreted start-up that `vdisk info` and `check` would otherwise pay to print one number.
 */
final class ExactDecimal {
  private ExactDecimal() {}

  /**
   * {@code value} with exactly {@code decimals} digits after the point ({@code fixed(0.9765625, 3)} is
   * {@code "0.977"}, {@code fixed(12.5, 2)} is {@code "12.50"}), without a point when {@code decimals} is 0. A
   * negative value keeps its sign unless it rounds to zero (as {@code BigDecimal.toPlainString} prints it).
   *
   * @throws NumberFormatException for NaN and the infinities
   */
  static String fixed(double value, int decimals) {
    if (decimals < 0) {
      throw new IllegalArgumentException("decimals: " + decimals + " (expected: 0 or more)");
    }
    BigInteger scaled = roundedScaled(Math.abs(value), decimals);
    String digits = scaled.toString();
    if (decimals > 0) {
      digits = "0".repeat(Math.max(0, decimals + 1 - digits.length())) + digits;
      digits = digits.substring(0, digits.length() - decimals) + "." + digits.substring(digits.length() - decimals);
    }
    return value < 0 && scaled.signum() != 0 ? "-" + digits : digits;
  }

  /** {@code value * 10^decimals} for a finite {@code value >= 0}, rounded half to even, exactly. */
  private static BigInteger roundedScaled(double value, int decimals) {
    if (!Double.isFinite(value)) {
      throw new NumberFormatException("not a finite number: " + value + " (expected: a finite number)");
    }
    // value = mantissa * 2^-shift exactly
    long fraction = Double.doubleToRawLongBits(value) & ((1L << 52) - 1);
    int exponent = Math.getExponent(value);
    boolean subnormal = exponent < Double.MIN_EXPONENT;
    long mantissa = subnormal ? fraction : fraction | 1L << 52;
    int shift = subnormal ? -Double.MIN_EXPONENT + 52 : 52 - exponent;
    BigInteger product = BigInteger.valueOf(mantissa).multiply(BigInteger.TEN.pow(decimals));
    if (shift <= 0) {
      return product.shiftLeft(-shift);
    }
    BigInteger quotient = product.shiftRight(shift);
    int half = product.subtract(quotient.shiftLeft(shift)).shiftLeft(1).compareTo(BigInteger.ONE.shiftLeft(shift));
    return half > 0 || half == 0 && quotient.testBit(0) ? quotient.add(BigInteger.ONE) : quotient;
  }
}
