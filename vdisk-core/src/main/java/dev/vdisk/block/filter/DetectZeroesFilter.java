package dev.vdisk.block.filter;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * QEMU's {@code detect-zeroes}: a write whose payload is all zero bytes goes down as a zero write, so the
 * format can record zeroes (a qcow2 zero cluster, an unwritten or punched extent) instead of storing them.
 * With {@link Mode#UNMAP} the zero write also carries {@link WriteFlag#MAY_TRIM}, as QEMU's
 * {@code BDRV_REQ_MAY_UNMAP}; FUA passes through either way. Writes with any non-zero byte, and every other
 * verb, pass through unchanged. Belongs below the guard ({@code CheckedDevice}), where QEMU keeps it: on
 * the format layer.
 */
public final class DetectZeroesFilter extends FilterDevice {
  /** Zero-filled, never written: what payloads are compared with. */
  private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(64 << 10).asReadOnlyBuffer();

  /** QEMU's {@code detect-zeroes} values. */
  public enum Mode {
    /** Writes are written as they come (no filter). */
    OFF,
    /** All-zero writes become zero writes that keep their storage. */
    ON,
    /** All-zero writes become zero writes that may release their storage; needs {@code discard=unmap}. */
    UNMAP;

    /** Parses {@code off|on|unmap}, the spellings of QEMU's {@code detect-zeroes} option. */
    public static Mode parse(String text) {
      return switch (text.toLowerCase(Locale.ROOT)) {
        case "off" -> OFF;
        case "on" -> ON;
        case "unmap" -> UNMAP;
        default -> throw new IllegalArgumentException("detect-zeroes: '" + text + "' (expected: off, on or unmap)");
      };
    }
  }

  private final boolean unmap;

  private DetectZeroesFilter(BlockDevice next, boolean unmap) {
    super(next);
    this.unmap = unmap;
  }

  /**
   * {@code next} filtered for {@code mode}: {@code next} itself for {@link Mode#OFF} and for a device without
   * zero writes of its own (QEMU, too, only converts when the driver can write zeroes).
   */
  public static BlockDevice wrap(BlockDevice next, Mode mode) {
    if (mode == Mode.OFF || !next.capabilities().writeZeroes().available()) {
      return next;
    }
    return new DetectZeroesFilter(next, mode == Mode.UNMAP);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    if (!src.hasRemaining() || !isZero(src)) {
      next.write(offset, src, flags);
      return;
    }
    EnumSet<WriteFlag> zeroFlags = EnumSet.noneOf(WriteFlag.class);
    zeroFlags.addAll(flags);
    if (unmap) {
      zeroFlags.add(WriteFlag.MAY_TRIM);
    }
    int n = src.remaining();
    next.writeZeroes(offset, n, zeroFlags);
    src.position(src.limit()); // consumed, as a write would
  }

  /** True if {@code src}'s remaining bytes are all zero (its position is not moved). */
  static boolean isZero(ByteBuffer src) {
    for (int at = src.position(); at < src.limit(); at += ZEROES.capacity()) {
      int n = Math.min(ZEROES.capacity(), src.limit() - at);
      if (src.slice(at, n).mismatch(ZEROES.slice(0, n)) >= 0) {
        return false;
      }
    }
    return true;
  }

  @Override
  public String toString() {
    return "DetectZeroes" + (unmap ? "[unmap]" : "") + "(" + next + ")";
  }
}
