package dev.vdisk.nbd.protocol;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** UTF-8 helpers for the protocol's length-limited strings. */
final class Utf8 {
  private Utf8() {}

  /** The UTF-8 bytes of {@code s}, cut to at most {@code max} bytes without splitting a character. */
  static byte[] truncate(String s, int max) {
    byte[] m = s.getBytes(StandardCharsets.UTF_8);
    if (m.length <= max) {
      return m;
    }
    int end = max;
    while (end > 0 && (m[end] & 0xc0) == 0x80) {
      end--;
    }
    return Arrays.copyOf(m, end);
  }
}
