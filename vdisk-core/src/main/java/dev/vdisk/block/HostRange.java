package dev.vdisk.block;

import java.nio.channels.FileChannel;

/**
 * Bytes of a guest range as they sit, unchanged, in a host file: what {@link BlockDevice#hostRanges} yields so that a
 * transport can send them straight from the host's page cache ({@link FileChannel#transferTo}, sendfile) instead of
 * reading them into a buffer first.
 *
 * @param channel the host file, open for reading; owned by the device (the caller neither closes nor keeps it)
 * @param position where the bytes start in the file
 * @param length how many bytes, at least 1
 * @param residency answers {@link #cached} for this file; ranges of one channel share it
 */
public record HostRange(FileChannel channel, long position, long length, Residency residency) {
  /**
   * Whether every byte of this range is in the host's page cache now, so that sending it will not wait for the disk
   * (unless the pages are evicted in between: a hint, not a promise). A transport uses it to send the range on a
   * thread that must not block; false where the host cannot tell. One system call (cachestat) on Linux 6.5 or later.
   */
  public boolean cached() {
    return residency.cached(position, length);
  }

  /** How a host file answers {@link HostRange#cached}. */
  @FunctionalInterface
  public interface Residency {
    /** Whether every page of the file's {@code [position, position + length)} is in the page cache; false if unknown. */
    boolean cached(long position, long length);
  }
}
