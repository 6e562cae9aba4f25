package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the image's metadata tables lie: each must be inside the file and must not overlap the header cluster
 * or another table. Catches hostile images whose tables alias each other before anything is read from them.
 */
final class Layout {
  private record Region(String name, long start, long end) {}

  private final long fileSize;
  private final List<Region> claimed = new ArrayList<>();

  /** A layout of a file of {@code fileSize} bytes whose first cluster (the header) is taken. */
  Layout(long fileSize, int clusterSize) {
    this.fileSize = fileSize;
    claimed.add(new Region("the header cluster", 0, clusterSize));
  }

  long fileSize() {
    return fileSize;
  }

  /**
   * How much of {@code [offset, offset + length)} lies inside the file: what a read-only open must check and claim of
   * a table that QEMU reads as zeroes past the end of the file (a file cut short). A negative offset (bit 63 set)
   * keeps its whole length, so that {@link #check} refuses it.
   */
  long insideFile(long offset, long length) {
    return offset < 0 ? length : Math.clamp(fileSize - offset, 0, length);
  }

  /** Checks {@code [offset, offset + length)} like {@link #check} and reserves it against later tables. */
  void claim(String name, long offset, long length) throws IOException {
    check(name, offset, length);
    if (length > 0) {
      claimed.add(new Region(name, offset, offset + length));
    }
  }

  /**
   * Checks that {@code [offset, offset + length)} is inside the file and overlaps no claimed table.
   *
   * @throws IOException naming the table, its range and what it collides with
   */
  void check(String name, long offset, long length) throws IOException {
    if (length == 0) {
      return;
    }
    if (offset < 0 || length < 0 || offset > fileSize || length > fileSize - offset) {
      throw invalid(name, "offset " + Long.toUnsignedString(offset) + " length " + length,
          "inside the file of " + fileSize + " bytes");
    }
    long end = offset + length;
    for (Region r : claimed) {
      if (offset < r.end && r.start < end) {
        throw invalid(name, "offset " + offset + " length " + length,
            "no overlap with " + r.name + " at " + r.start + ".." + r.end);
      }
    }
  }
}
