package dev.vdisk.nbd.server;

import java.util.Locale;

/** What an export does with {@code NBD_CMD_TRIM} and with zero writes that allow a hole (QEMU's {@code discard=}). */
public enum DiscardMode {
  /** Trims release storage; zero writes without NO_HOLE may punch holes. */
  UNMAP,
  /** Trims are offered and dropped, as qemu-nbd does; zero writes never punch holes. */
  IGNORE;

  /** Parses QEMU's spellings: {@code unmap|on} and {@code ignore|off}. */
  public static DiscardMode parse(String text) {
    return switch (text.toLowerCase(Locale.ROOT)) {
      case "unmap", "on" -> UNMAP;
      case "ignore", "off" -> IGNORE;
      default -> throw new IllegalArgumentException("discard: '" + text + "' (expected: unmap, on, ignore, off)");
    };
  }
}
