package dev.vdisk.nbd.server;

import java.io.IOException;
import java.util.List;

/**
 * A dirty bitmap an export offers as the {@code qemu:dirty-bitmap:NAME} metadata context (qemu-nbd's {@code -B}).
 *
 * @param name the bitmap's name
 * @param runs the bitmap's ranges
 */
public record ExportBitmap(String name, Runs runs) {
  /** The bitmap's state over a range. */
  @FunctionalInterface
  public interface Runs {
    /**
     * Runs covering exactly {@code [offset, offset + length)} (which lies within the export), in order, each
     * {@code {offset, length, dirty ? 1 : 0}}.
     */
    List<long[]> runs(long offset, long length) throws IOException;
  }
}
