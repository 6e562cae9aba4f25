package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The refcount table: {@code refcount_table_clusters} clusters of big-endian 64-bit entries at
 * {@code refcount_table_offset}. Entry {@code i} holds the host offset of the refcount block that counts clusters
 * {@code i << blockBits} onwards (bits 9-63), or 0 where no block is allocated; bits 0-8 are reserved.
 *
 * <p>Read whole: {@link Qcow2Header#parse} bounds the table at {@link Qcow2Header#MAX_REFCOUNT_TABLE_BYTES}
 * (8 MiB, QEMU's limit), so it takes at most 8 MiB of memory. Entries are kept as found; what they point at is
 * checked by the code that follows them.
 */
final class RefcountTable {
  /** Bits 9-63 of an entry: the refcount block's offset. */
  static final long OFFSET_MASK = 0xffff_ffff_ffff_fe00L;
  /** Bits 0-8 of an entry: reserved, zero in a valid image. */
  static final long RESERVED_MASK = 0x1ffL;

  private final long[] entries;

  private RefcountTable(long[] entries) {
    this.entries = entries;
  }

  /**
   * Reads the table the header describes. Bytes past the end of the file read as zeroes (as QEMU reads them);
   * an opener that needs the table inside the file checks that first.
   */
  static RefcountTable read(HostReader file, Qcow2Header header) throws IOException {
    long bytes = header.refcountTableClusters() << header.clusterBits();
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(bytes));
    file.readData(header.refcountTableOffset(), b);
    long[] entries = new long[(int) (bytes / 8)];
    b.flip().asLongBuffer().get(entries);
    return new RefcountTable(entries);
  }

  /** Entries in the table: {@code refcount_table_clusters * cluster_size / 8}. */
  int size() {
    return entries.length;
  }

  /** Entry {@code index} as stored, reserved bits included. */
  long entry(int index) {
    return entries[index];
  }

  /** The refcount block offset of entry {@code index}, or 0 for an index past the table or a free entry. */
  long blockOffset(long index) {
    return index >= 0 && index < entries.length ? entries[(int) index] & OFFSET_MASK : 0;
  }
}
