package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Set;

/**
 * The active L1 table, read whole at open (at most {@link Qcow2Header#MAX_L1_BYTES}, and never more than the
 * file holds) with every entry checked: each L2 table it names is cluster-aligned, inside the file (or, read-only,
 * past its end, where it reads as zeroes, as the L1 table itself may) and clear of the header and the other tables. In a writable image entries change in memory under the image's metadata lock
 * and are written back by its flush; readers see them without a lock.
 */
final class L1Table {
  private static final VarHandle ENTRY = MethodHandles.arrayElementVarHandle(long[].class);

  private volatile long offset;
  private volatile long[] entries;
  private final BitSet dirty = new BitSet();

  private L1Table(long offset, long[] entries) {
    this.offset = offset;
    this.entries = entries;
  }

  /**
   * Reads and checks the table the header describes, claiming its bytes in {@code layout}.
   *
   * @param readOnly the image will not be written: the L1 table, or an L2 table, past the end of the file is let
   *     through and reads as zeroes, as QEMU reads it (only the part inside the file must clear the other tables); a
   *     writable image is refused, since writing such a table back would put metadata where no refcount counts it
   */
  static L1Table read(HostReader file, Qcow2Header header, Geometry geometry, Layout layout, boolean readOnly)
      throws IOException {
    checkSize(header, geometry);
    int bytes = Math.toIntExact(header.l1Size() * 8);
    ByteBuffer b;
    if (readOnly) { // past the end of a file cut short, the table reads as zeroes, as QEMU reads it
      layout.claim("L1 table", header.l1TableOffset(), layout.insideFile(header.l1TableOffset(), bytes));
      b = ByteBuffer.allocate(bytes);
      file.readData(header.l1TableOffset(), b);
      b.flip();
    } else {
      layout.claim("L1 table", header.l1TableOffset(), bytes);
      b = file.readMetadata("L1 table", header.l1TableOffset(), bytes);
    }
    long[] entries = new long[(int) header.l1Size()];
    int clusterSize = geometry.clusterSize();
    for (int i = 0; i < entries.length; i++) {
      long e = b.getLong();
      long l2 = e & Geometry.OFFSET_MASK;
      if (l2 != 0) {
        if ((l2 & (clusterSize - 1)) != 0) {
          throw invalid("L1 entry " + i + ": L2 table offset", l2, "a multiple of the cluster size " + clusterSize);
        }
        long checked = readOnly ? Math.clamp(layout.fileSize() - l2, 0, clusterSize) : clusterSize;
        layout.check("L2 table of L1 entry " + i, l2, checked);
      }
      entries[i] = e;
    }
    return new L1Table(header.l1TableOffset(), entries);
  }

  /**
   * A read-only table of {@code entries}, read and checked by the caller: an internal snapshot's L1 table, padded with
   * zeroes to the entries the current virtual size needs (a snapshot read as QEMU's {@code qcow2_snapshot_load_tmp}
   * reads it).
   */
  static L1Table ofSnapshot(long offset, long[] entries) {
    return new L1Table(offset, entries.clone());
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
    return entry(index) & Geometry.OFFSET_MASK;
  }

  /** Entry {@code index} as stored, flags included; 0 past the table. Safe without a lock. */
  long entry(long index) {
    long[] e = entries;
    return index < e.length ? (long) ENTRY.getAcquire(e, (int) index) : 0;
  }

  /** Entries in the table. */
  int size() {
    return entries.length;
  }

  /** Where the table lives. */
  long offset() {
    return offset;
  }

  /**
   * The table as it will be at {@code newOffset} with {@code newSize} entries: the current entries followed by
   * zeroes, in big-endian bytes, for the caller to write there before it {@link #moveTo moves} the table.
   */
  ByteBuffer grown(int newSize, int clusterSize) {
    ByteBuffer b = ByteBuffer.allocate((int) Math.ceilDiv(newSize * 8L, clusterSize) * clusterSize);
    for (int i = 0; i < entries.length; i++) {
      b.putLong(i * 8, entry(i));
    }
    return b;
  }

  /** Switches to the copy written at {@code newOffset} with {@code newSize} entries; no entry may be dirty. */
  void moveTo(long newOffset, int newSize) {
    if (!dirty.isEmpty()) {
      throw new IllegalStateException("L1 table moved with unwritten entries");
    }
    entries = Arrays.copyOf(entries, newSize);
    offset = newOffset;
  }

  /** Changes entry {@code index} in memory; {@link #writeDirty} stores it. The image's metadata lock is held. */
  void set(int index, long value) {
    ENTRY.setRelease(entries, index, value);
    dirty.set(index);
  }

  /** True if entry {@code index} changed since the last {@link #writeDirty}. The image's metadata lock is held. */
  boolean isDirty(long index) {
    return dirty.get((int) index);
  }

  /**
   * Writes the changed entries, in whole 512-byte sectors of the table (the unit a disk writes atomically), and
   * returns whether there were any. The image's metadata lock is held.
   */
  boolean writeDirty(BlockDevice file) throws IOException {
    if (dirty.isEmpty()) {
      return false;
    }
    int perSector = 512 / 8;
    for (int i = dirty.nextSetBit(0); i >= 0; i = dirty.nextSetBit(i + 1)) {
      int first = i / perSector * perSector;
      int n = Math.min(perSector, entries.length - first);
      ByteBuffer b = ByteBuffer.allocate(n * 8);
      for (int k = 0; k < n; k++) {
        b.putLong(entry(first + k));
      }
      file.write(offset + first * 8L, b.flip(), Set.of());
      i = first + perSector - 1;
    }
    dirty.clear();
    return true;
  }
}
