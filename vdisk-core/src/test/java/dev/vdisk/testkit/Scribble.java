package dev.vdisk.testkit;

import java.util.List;

/**
 * The qemu-io commands that the test corpora write into a fresh image so that every kind of cluster appears:
 * data at aligned and unaligned places, data that is all zeroes, zero writes, and discards.
 */
public final class Scribble {
  private Scribble() {}

  /** Commands for an image of {@code size} bytes with clusters of {@code cluster} bytes. */
  public static List<String> commands(long size, int cluster) {
    long half = size / 2;
    return List.of(
        "write -P 0x11 0 3000",
        "write -P 0x22 " + (3L * cluster + 100) + " " + 2L * cluster,
        "write -P 0x33 " + half + " 65536",
        "write -z " + (half + 16384) + " 8192",
        "write -P 0x44 " + size / 4 + " " + 8L * cluster,
        "write -z " + (size / 4 + cluster) + " " + 2L * cluster,
        "discard " + (size / 4 + 4L * cluster) + " " + 2L * cluster,
        "write -P 0 " + (3 * size / 4 - 65536) + " 65536",
        "write -z " + (3 * size / 4) + " " + 4L * cluster,
        "write -P 0x55 " + (size - 4096) + " 4096");
  }
}
