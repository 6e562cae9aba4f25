package dev.vdisk.io;

import java.util.List;
import java.util.Locale;

/** qemu-img's {@code preallocation} modes. Which ones a format accepts is the format's business. */
public enum Preallocation {
  /** Nothing is allocated ahead of writes: a sparse file. */
  OFF,
  /** Format metadata is written up front, data clusters are not (qcow2 only). */
  METADATA,
  /** The host file's blocks are reserved with fallocate, without writing them. */
  FALLOC,
  /** Every byte is written with zeroes. */
  FULL;

  /** QEMU's spelling. */
  public String spelling() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * Parses QEMU's spelling, accepting only {@code allowed}.
   *
   * @throws IllegalArgumentException naming the value and the modes {@code format} accepts
   */
  public static Preallocation parse(String text, String format, List<Preallocation> allowed) {
    for (Preallocation p : allowed) {
      if (p.spelling().equals(text)) {
        return p;
      }
    }
    throw new IllegalArgumentException("preallocation: '" + text + "' (expected for " + format + ": "
        + String.join(", ", allowed.stream().map(Preallocation::spelling).toList()) + ")");
  }
}
