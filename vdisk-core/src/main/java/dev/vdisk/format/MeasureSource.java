package dev.vdisk.format;

import java.io.IOException;

/** The image {@code qemu-img measure} measures, as a target format needs to see it. */
public interface MeasureSource {
  /** The virtual size in bytes. */
  long size() throws IOException;

  /**
   * Bytes in the {@code unit}-sized, {@code unit}-aligned chunks that hold data anywhere in the backing chain
   * (ranges that read as zeroes do not count), as qemu-img measure counts a source's clusters.
   */
  long dataBytes(long unit) throws IOException;

  /** True if the source can store persistent dirty bitmaps (qcow2 with compat 1.1, as QEMU says). */
  boolean supportsBitmaps() throws IOException;

  /** Bytes the source's persistent bitmaps take in a qcow2 image of {@code clusterSize} clusters. */
  long bitmapBytes(long clusterSize) throws IOException;
}
