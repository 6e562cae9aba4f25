package dev.vdisk.cli;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;

/**
 * Byte counts as qemu-img reads and prints them.
 *
 * <p>{@link #parse} is QEMU 7.2's {@code qemu_strtosz}: a decimal integer (or {@code 0x} hex) with an
 * optional suffix {@code b k M G T P E} (case-insensitive, binary multiples, {@code b} = bytes); a decimal
 * fraction needs a suffix other than {@code b} and is rounded half up to a byte ({@code 1.5G}, {@code 1.k}).
 * Leading blanks and {@code +} are allowed; negatives, exponents, junk and values above
 * {@link Long#MAX_VALUE} are not. One deliberate difference: qemu-img accepts a suffix after hex with a
 * deprecation warning, vdisk refuses it.
 */
public final class Sizes {
  private static final String SUFFIXES = "BKMGTPE";
  private static final String EXPECTED =
      "(expected: bytes like 4096, or with a suffix b, k, M, G, T, P, E like 64k or 1.5G)";
  private static final BigInteger MAX = BigInteger.valueOf(Long.MAX_VALUE);

  private Sizes() {}

  /** {@code -r}'s bytes per second (0: no limit), with qemu-img's message for a value it cannot read. */
  static long rateLimit(String text) {
    try {
      return parse("rate limit", text);
    } catch (IllegalArgumentException e) {
      throw new CliException("Invalid rate limit specified. You may use k, M, G, T, P or E suffixes for "
          + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", e);
    }
  }

  /**
   * Parses {@code text}.
   *
   * @param what names the value in the message ({@code "size"}, {@code "offset"})
   * @throws IllegalArgumentException {@code what: 'text' ... (expected: ...)}
   */
  public static long parse(String what, String text) {
    int i = 0;
    int n = text.length();
    while (i < n && isBlank(text.charAt(i))) {
      i++;
    }
    if (i < n && text.charAt(i) == '-') {
      throw new IllegalArgumentException(what + ": '" + text + "' is negative (expected: a byte count >= 0)");
    }
    if (i < n && text.charAt(i) == '+') {
      i++;
    }
    if (i + 1 < n && text.charAt(i) == '0' && (text.charAt(i + 1) == 'x' || text.charAt(i + 1) == 'X')) {
      return parseHex(what, text, i + 2);
    }
    int digits = i;
    while (i < n && isDigit(text.charAt(i))) {
      i++;
    }
    if (i == digits) {
      throw junk(what, text);
    }
    BigInteger whole = new BigInteger(text.substring(digits, i));
    // qemu-img keeps the fraction as a double turned into 64-bit fixed point; doing the same rounds alike.
    BigInteger fraction64 = BigInteger.ZERO;
    if (i < n && text.charAt(i) == '.') {
      int f = ++i;
      while (i < n && isDigit(text.charAt(i))) {
        i++;
      }
      if (i < n && (text.charAt(i) == 'e' || text.charAt(i) == 'E') && i + 1 < n
          && (isDigit(text.charAt(i + 1)) || text.charAt(i + 1) == '+' || text.charAt(i + 1) == '-')) {
        throw new IllegalArgumentException(what + ": '" + text + "' has an exponent " + EXPECTED);
      }
      if (i > f) {
        double d = Double.parseDouble("0." + text.substring(f, i));
        fraction64 = new BigDecimal(d).multiply(new BigDecimal(BigInteger.ONE.shiftLeft(64)))
            .setScale(0, RoundingMode.FLOOR).toBigIntegerExact();
      }
    }
    long multiplier = 1;
    if (i < n && SUFFIXES.indexOf(Character.toUpperCase(text.charAt(i))) >= 0) {
      multiplier = 1L << (10 * SUFFIXES.indexOf(Character.toUpperCase(text.charAt(i))));
      i++;
    }
    if (i != n) {
      throw junk(what, text);
    }
    if (multiplier == 1 && fraction64.signum() != 0) {
      throw new IllegalArgumentException(what + ": '" + text + "' has a fraction of a byte "
          + "(expected: a fraction only with a suffix k, M, G, T, P, E, like 1.5G)");
    }
    BigInteger m = BigInteger.valueOf(multiplier);
    BigInteger product = fraction64.multiply(m);
    BigInteger value = whole.multiply(m).add(product.shiftRight(64)).add(product.testBit(63) ? BigInteger.ONE : BigInteger.ZERO);
    return inRange(what, text, value);
  }

  private static long parseHex(String what, String text, int from) {
    int i = from;
    while (i < text.length() && Character.digit(text.charAt(i), 16) >= 0) {
      i++;
    }
    if (i == from || i != text.length()) {
      String rest = text.substring(i);
      if (i > from && !rest.isEmpty() && SUFFIXES.indexOf(Character.toUpperCase(rest.charAt(0))) >= 0) {
        throw new IllegalArgumentException(what + ": '" + text + "' has a suffix on a hex number "
            + "(expected: hex without suffix like 0x1000, or decimal with suffix like 4k)");
      }
      throw junk(what, text);
    }
    return inRange(what, text, new BigInteger(text.substring(from, i), 16));
  }

  private static long inRange(String what, String text, BigInteger value) {
    if (value.compareTo(MAX) > 0) {
      throw new IllegalArgumentException(what + ": '" + text + "' is too large (expected: at most " + Long.MAX_VALUE + " bytes)");
    }
    return value.longValueExact();
  }

  private static IllegalArgumentException junk(String what, String text) {
    return new IllegalArgumentException(what + ": '" + text + "' " + EXPECTED);
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  // C's isspace(), which strtoull skips.
  private static boolean isBlank(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
  }

  /**
   * qemu-img's {@code size_to_str}: three significant digits and a binary unit, the unit chosen so the
   * number stays below 1000 ({@code 0 B}, {@code 512 B}, {@code 0.977 KiB}, {@code 4 MiB}, {@code 1.5 GiB}).
   */
  public static String human(long bytes) {
    String[] units = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    // QEMU picks the unit from frexp(bytes / (1000/1024)); Math.getExponent + 1 is frexp's exponent.
    double scaled = bytes / (1000.0 / 1024.0);
    int exp = bytes == 0 ? 0 : Math.getExponent(scaled) + 1;
    int unit = (exp - 1) / 10;
    double value = (double) bytes / (1L << (unit * 10));
    return threeSignificant(value) + " " + units[unit] + "B";
  }

  /**
   * C's {@code %0.3g} for values in [0, 1000): glibc rounds the exact binary value half-even and drops
   * trailing zeros; a value that rounds up to 1000 switches to exponent form, so qemu-img prints
   * {@code 1e+03 KiB} for 1023488 bytes, and so does this.
   */
  private static String threeSignificant(double value) {
    if (value == 0) {
      return "0";
    }
    if (value >= 999.5) { // rounds to 1000 (999.5 itself half to even)
      return "1e+03";
    }
    // Three significant digits are 2 - floor(log10(value)) decimals; near a power of ten both candidates round
    // to that power, so log10's last bit cannot change the text.
    int decimals = 2 - (int) Math.floor(Math.log10(value));
    String rounded = ExactDecimal.fixed(value, decimals);
    if (rounded.indexOf('.') < 0) {
      return rounded;
    }
    int end = rounded.length();
    while (rounded.charAt(end - 1) == '0') {
      end--;
    }
    return rounded.substring(0, rounded.charAt(end - 1) == '.' ? end - 1 : end);
  }

  /**
   * qemu-io's {@code cvtstr}: three decimals and a binary unit, {@code .000} dropped ({@code 64 KiB},
   * {@code 43.525 MiB}), and below 1 KiB a count of bytes ({@code 512 bytes}, {@code 1.500000 bytes}).
   */
  public static String ioAmount(double value) {
    String[] units = {" KiB", " MiB", " GiB", " TiB", " PiB", " EiB"};
    String number;
    String unit;
    int u = -1;
    for (int i = units.length - 1; i >= 0; i--) {
      if (value >= Math.scalb(1.0, 10 * (i + 1))) {
        u = i;
        break;
      }
    }
    if (u >= 0) {
      number = fixed(value / Math.scalb(1.0, 10 * (u + 1)), 3);
      unit = units[u];
    } else {
      number = fixed(value, 6);
      unit = " bytes";
    }
    // C's strstr(".000"): it also cuts "1.000500" to "1", and so must this.
    int trim = number.indexOf(".000");
    return (trim >= 0 ? number.substring(0, trim) : number) + unit;
  }

  /** C's {@code %.Nf}: the exact binary value rounded half-even (Java's Formatter rounds differently on ties). */
  static String fixed(double value, int decimals) {
    return ExactDecimal.fixed(value, decimals);
  }
}
