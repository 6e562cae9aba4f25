package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The active L1 table, read whole at open (at most {@link Qcow2Header#MAX_L1_BYTES}, and never more than the
 * file holds) with every entry checked: each L2 table it names is cluster-aligned, inside the file and clear
 * of the header and the other tables.
 */
final class L1Table {
  private final long[] entries;

  private L1Table(long[] entries) {
    this.entries = entries;
  }

  /** Reads and checks the table the header describes, claiming its bytes in {@code layout}. */
  static L1Table read(HostReader file, Qcow2Header header, Geometry geometry, Layout layout) throws IOException {
    checkSize(header, geometry);
    int bytes = Math.toIntExact(header.l1Size() * 8);
    layout.claim("L1 table", header.l1TableOffset(), bytes);
    ByteBuffer b = file.readMetadata("L1 table", header.l1TableOffset(), bytes);
    long[] entries = new long[(int) header.l1Size()];
    int clusterSize = geometry.clusterSize();
    for (int i = 0; i < entries.length; i++) {
      long e = b.getLong();
      long l2 = e & Geometry.OFFSET_MASK;
      if (l2 != 0) {
        if ((l2 & (clusterSize - 1)) != 0) {
          throw invalid("L1 entry " + i + ": L2 table offset", l2, "a multiple of the cluster size " + clusterSize);
        }
        layout.check("L2 table of L1 entry " + i, l2, clusterSize);
      }
      entries[i] = e;
    }
    return new L1Table(entries);
  }

  /** Refuses an l1_size too small to map the virtual size (the upper bound is {@link Qcow2Header#parse}'s). */
  static void checkSize(Qcow2Header header, Geometry geometry) throws IOException {
    long needed = geometry.l1EntriesFor(header.size());
    if (header.l1Size() < needed) {
      throw invalid("l1_size", header.l1Size(), "at least " + needed + " entries to map the virtual size " + header.size());
    }
  }

  /** The host offset of the L2 table for L1 index {@code index}, or 0 where none is allocated. */
  long l2Offset(long index) {
    return index < entries.length ? entries[(int) index] & Geometry.OFFSET_MASK : 0;
  }
}
