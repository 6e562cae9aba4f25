package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.CheckTally.hex;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Walks an L1 table and every L2 table it names, adding a reference for each table and each cluster they use and
 * reporting broken entries: QEMU's {@code check_refcounts_l1} and {@code check_refcounts_l2}. Tables are read as
 * QEMU reads them, zeroes past the end of the file, so that a table there counts (and is reported) instead of
 * stopping the check.
 *
 * <p>Memory: the L1 table being walked (at most {@link Qcow2Header#MAX_L1_BYTES}) and one L2 table (one cluster).
 */
final class TableWalker {
  /** Bits 9-55 of an L1 entry. */
  static final long L1_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** Bits 0-8 and 56-62 of an L1 entry: reserved. */
  static final long L1_RESERVED_MASK = 0x7f00_0000_0000_01ffL;

  private final HostReader file;
  private final Geometry geometry;
  private final boolean dataFile;
  private final ReferenceCounts refs;
  private final CheckTally tally;
  private final ByteBuffer l2;
  private final long compressedOffsetMask;
  private final long compressedSectorMask;
  private final ZeroFixer zeroFixer;

  /** A repair's fix for an unaligned preallocated cluster (QEMU's fix_l2_entry_by_zero). */
  @FunctionalInterface
  interface ZeroFixer {
    /**
     * Makes entry {@code index} of the L2 table at {@code l2Offset}, held in {@code table}, a zero cluster on disk.
     *
     * @return whether it did
     * @throws IOException when the repair must stop
     */
    boolean zero(long l2Offset, ByteBuffer table, int index) throws IOException;
  }

  /** @param zeroFixer fixes unaligned preallocated clusters ({@code -r all}); null to report them only */
  TableWalker(HostReader file, Geometry geometry, boolean dataFile, ReferenceCounts refs, CheckTally tally,
      ZeroFixer zeroFixer) {
    this.zeroFixer = zeroFixer;
    this.file = file;
    this.geometry = geometry;
    this.dataFile = dataFile;
    this.refs = refs;
    this.tally = tally;
    this.l2 = ByteBuffer.allocate(geometry.clusterSize());
    this.compressedOffsetMask = (1L << geometry.compressedSizeShift()) - 1;
    this.compressedSectorMask = (1L << (geometry.clusterBits() - 8)) - 1;
  }

  /** Reads the L1 table of {@code entries} entries at {@code offset}, zeroes past the end of the file. */
  long[] readL1(long offset, int entries) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(entries * 8);
    file.readData(offset, b);
    long[] l1 = new long[entries];
    b.flip().asLongBuffer().get(l1);
    return l1;
  }

  /** Reads the L2 table at {@code offset} into the walker's buffer; valid until the next call. */
  ByteBuffer readL2(long offset) throws IOException {
    file.readData(offset, l2.clear());
    return l2.flip();
  }

  /**
   * Counts the L1 table at {@code offset} (already read as {@code l1}), its L2 tables and their clusters.
   *
   * @param active the image's active table: its clusters make the allocation and fragmentation statistics
   */
  void walk(long offset, long[] l1, boolean active) throws IOException {
    refs.add(offset, l1.length * 8L);
    for (long entry : l1) {
      if (entry == 0) {
        continue;
      }
      if ((entry & L1_RESERVED_MASK) != 0) {
        tally.corruption("ERROR found L1 entry with reserved bits set: " + hex(entry));
      }
      long l2Offset = entry & L1_OFFSET_MASK;
      refs.add(l2Offset, geometry.clusterSize());
      if ((l2Offset & geometry.clusterMask()) != 0) {
        tally.corruption("ERROR l2_offset=" + hex(l2Offset) + ": Table is not cluster aligned; L1 entry corrupted");
      }
      walkL2(l2Offset, readL2(l2Offset), active);
    }
  }

  private void walkL2(long l2Offset, ByteBuffer table, boolean active) throws IOException {
    int words = geometry.wordsPerEntry();
    int entries = 1 << geometry.l2Bits();
    long nextContiguous = 0;
    for (int i = 0; i < entries; i++) {
      long word = table.getLong(i * words * 8);
      long bitmap = words == 2 ? table.getLong(i * 16 + 8) : 0;
      L2Kind kind = L2Kind.of(word, geometry.extendedL2(), dataFile);
      if (kind != L2Kind.COMPRESSED && (word & L2Kind.RESERVED_MASK) != 0) {
        tally.corruption("ERROR found l2 entry with reserved bits set: " + hex(word));
      }
      switch (kind) {
        case COMPRESSED -> compressed(i, word, bitmap, active);
        case NORMAL, ZERO_ALLOC -> {
          long host = word & L2Kind.OFFSET_MASK;
          if (((bitmap >>> 32) & bitmap) != 0) {
            tally.corruption("ERROR offset=" + hex(host) + ": Allocated cluster has corrupted subcluster allocation bitmap");
          }
          if ((host & geometry.clusterMask()) != 0) {
            boolean containsData = geometry.extendedL2() ? (bitmap & 0xffff_ffffL) != 0 : (word & Geometry.ZERO) == 0;
            boolean repair = !containsData && zeroFixer != null;
            tally.corruption((repair ? "Repairing" : "ERROR") + " offset=" + hex(host)
                + (containsData ? ": Data cluster" : ": Preallocated cluster") + " is not properly aligned; L2 entry corrupted.");
            if (repair && zeroFixer.zero(l2Offset, table, i)) {
              // Now a plain zero cluster: it owns nothing.
              tally.corruptions--;
              tally.corruptionsFixed++;
              continue;
            }
          }
          if (active) {
            tally.allocatedClusters++;
            if (nextContiguous != 0 && host != nextContiguous) {
              tally.fragmentedClusters++;
            }
            nextContiguous = host + geometry.clusterSize();
          }
          if (!dataFile) {
            refs.add(host, geometry.clusterSize());
          }
        }
        case ZERO_PLAIN -> {
          // Reads as zeroes and owns nothing.
        }
        case UNALLOCATED -> {
          if ((bitmap & 0xffff_ffffL) != 0) {
            tally.corruption("ERROR: Unallocated cluster has non-zero subcluster allocation map");
          }
        }
      }
    }
  }

  /** A compressed cluster: its bytes may start anywhere and span cluster boundaries; each cluster touched counts. */
  private void compressed(int index, long word, long bitmap, boolean active) throws IOException {
    if ((word & Geometry.COPIED) != 0) {
      tally.corruption("ERROR: coffset=0x" + hex(word & compressedOffsetMask)
          + ": copied flag must never be set for compressed clusters");
      word &= ~Geometry.COPIED;
    }
    if (dataFile) {
      tally.corruption("ERROR compressed cluster " + index + " with data file, entry=0x" + hex(word));
      return;
    }
    if (bitmap != 0) {
      tally.corruption("ERROR compressed cluster " + index + " with non-zero subcluster allocation bitmap, entry=0x" + hex(word));
      return;
    }
    long host = word & compressedOffsetMask;
    long sectors = ((word >>> geometry.compressedSizeShift()) & compressedSectorMask) + 1;
    refs.add(host, sectors * 512 - (host & 511));
    if (active) {
      tally.allocatedClusters++;
      tally.compressedClusters++;
      // QEMU counts every compressed cluster as fragmented: adjacent ones still share sectors.
      tally.fragmentedClusters++;
    }
  }
}
