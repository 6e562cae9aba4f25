package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.CheckTally.hex;
import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.format.CheckResult;
import dev.vdisk.format.qcow2.Qcow2Format.Snapshot;
import dev.vdisk.io.FileDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A read-only consistency check of a qcow2 image with qemu-img check's semantics (QEMU's
 * {@code qcow2_check_refcounts}): computes the reference count of every host cluster from all metadata (header
 * cluster with its extensions, active L1 table and its L2 tables and clusters, each snapshot's L1 table and what it
 * references, the snapshot table, refcount table and blocks, bitmap directory and tables), compares it with the
 * stored refcounts (lower: a corruption; higher: a leak), then checks the COPIED flag of the active L1 and L2
 * entries against the stored refcounts. Damaged entries are reported and counted, never followed outside the file.
 *
 * <p>Only the header is held to the rules of a regular open ({@link ImageHead}); tables are read as QEMU reads them
 * in check mode, so a table that a regular open refuses (an L1 entry naming the header cluster, say) is reported
 * here instead.
 *
 * <p><b>Memory bound:</b> the {@link ReferenceCounts} array ({@code (clusters in the file + 1) * refcount_bits / 8}
 * bytes), the refcount table (at most 8 MiB), the active L1 table and one snapshot L1 table (at most 32 MiB each),
 * the first cluster, one L2 table and two refcount blocks (a cluster each, at most 2 MiB), and the snapshot list.
 */
final class Qcow2Checker {
  private final HostReader file;
  private final ImageHead head;
  private final Geometry geometry;
  private final CheckTally tally;
  private final RefcountTable table;
  private final RefcountWidth width;
  private final RefcountStore stored;
  private final ReferenceCounts refs;
  private final TableWalker walker;
  private final long[] activeL1;
  /** QEMU reports the first corruption found outside the check's own messages once, then suppresses the rest. */
  private boolean signalledCorruption;
  private Optional<BitmapTables> bitmaps = Optional.empty();

  private Qcow2Checker(HostReader file, ImageHead head, CheckTally tally) throws IOException {
    this.file = file;
    this.head = head;
    this.geometry = head.geometry();
    this.tally = tally;
    Qcow2Header h = head.header();
    L1Table.checkSize(h, geometry);
    this.width = new RefcountWidth(h.refcountOrder());
    this.table = RefcountTable.read(file, h);
    // Read only: a walk in cluster order needs one cached block, two keep a block and the one after it.
    this.stored = new RefcountStore(file.device(), h, table, 2);
    this.refs = new ReferenceCounts(file.size(), h.clusterBits(), width, tally);
    this.walker = new TableWalker(file, geometry, head.hasDataFile(), refs, tally);
    this.activeL1 = walker.readL1(h.l1TableOffset(), (int) h.l1Size());
  }

  /**
   * Checks the qcow2 image in {@code file}.
   *
   * @param problems receives each problem line as it is found
   * @throws IOException when the header cannot be read or the check cannot be completed
   */
  static CheckResult check(FileDevice file, Consumer<String> problems) throws IOException {
    HostReader reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(reader);
    if (head.hasDataFile()) {
      // Data clusters are not counted, but QEMU opens the data file and cannot check an image without it.
      String name = head.extensions().dataFile()
          .orElseThrow(() -> invalid("external data file name", "absent", "a data file name header extension with incompatible feature bit 2"));
      Path path = BackingChain.resolve(file.path(), name);
      if (!Files.exists(path)) {
        throw invalid("external data file", path, "an existing file");
      }
    }
    return new Qcow2Checker(reader, head, new CheckTally(problems)).run();
  }

  private CheckResult run() throws IOException {
    Qcow2Header h = head.header();
    bitmaps = readBitmaps();
    SnapshotTable.Parsed snapshots = SnapshotTable.parse(file, h, true);
    calculate(snapshots);
    long highest = compare();
    checkCopiedFlags();
    long virtualSize = (h.size() + 511) & ~511L;
    return tally.result((highest + 1) << geometry.clusterBits(), Math.ceilDiv(virtualSize, geometry.clusterSize()));
  }

  /** The bitmap directory, read and checked as QEMU's open does; none when the autoclear bit says it is stale. */
  private Optional<BitmapTables> readBitmaps() throws IOException {
    Optional<HeaderExtensions.Bitmaps> ext = head.extensions().bitmaps();
    if (ext.isEmpty()) {
      return Optional.empty();
    }
    if ((head.header().autoclearFeatures() & Features.AUTOCLEAR_BITMAPS) == 0) {
      // QEMU then ignores the bitmaps: their clusters show as leaks.
      tally.note("warning: a program lacking bitmap support modified this file, so all bitmaps are now considered "
          + "inconsistent; some clusters may be leaked");
      return Optional.empty();
    }
    return Optional.of(BitmapTables.read(file, ext.get(), geometry.clusterSize()));
  }

  /** QEMU's calculate_refcounts: every reference the metadata makes. */
  private void calculate(SnapshotTable.Parsed snapshots) throws IOException {
    Qcow2Header h = head.header();
    refs.add(0, geometry.clusterSize());
    walker.walk(h.l1TableOffset(), activeL1, true);
    if (head.hasDataFile() && !snapshots.entries().isEmpty()) {
      tally.corruption("ERROR " + snapshots.entries().size() + " snapshots in image with data file");
    }
    for (SnapshotTable.Entry e : snapshots.entries()) {
      Snapshot s = e.snapshot();
      if ((e.l1TableOffset() & geometry.clusterMask()) != 0) {
        tally.corruption("ERROR snapshot " + s.id() + " (" + s.name() + ") l1_offset=" + cHex(e.l1TableOffset())
            + ": L1 table is not cluster aligned; snapshot table entry corrupted");
        continue;
      }
      if (e.l1Size() > Qcow2Header.MAX_L1_BYTES / 8) {
        tally.corruption("ERROR snapshot " + s.id() + " (" + s.name() + ") l1_size=" + cHex(e.l1Size())
            + ": L1 table is too large; snapshot table entry corrupted");
        continue;
      }
      walker.walk(e.l1TableOffset(), walker.readL1(e.l1TableOffset(), (int) e.l1Size()), false);
    }
    refs.add(h.snapshotsOffset(), snapshots.tableBytes());
    refs.add(h.refcountTableOffset(), h.refcountTableClusters() << h.clusterBits());
    if (bitmaps.isPresent()) {
      bitmaps.get().count(file, geometry.clusterSize(), refs, tally);
    }
    checkRefcountBlocks();
  }

  /** QEMU's check_refblocks: each refcount block is aligned, inside the file and used once. */
  private void checkRefcountBlocks() throws IOException {
    for (int i = 0; i < table.size(); i++) {
      long entry = table.entry(i);
      long offset = entry & RefcountTable.OFFSET_MASK;
      if ((entry & RefcountTable.RESERVED_MASK) != 0) {
        tally.corruption("ERROR refcount table entry " + i + " has reserved bits set");
        continue;
      }
      if ((offset & geometry.clusterMask()) != 0) {
        tally.corruption("ERROR refcount block " + i + " is not cluster aligned; refcount table entry corrupted");
        continue;
      }
      long cluster = offset >>> geometry.clusterBits();
      if (cluster >= refs.clusters()) {
        tally.corruption("ERROR refcount block " + i + " is outside image");
        continue;
      }
      if (offset != 0) {
        refs.add(offset, geometry.clusterSize());
        long count = refs.get(cluster);
        if (count != 1) {
          tally.corruption("ERROR refcount block " + i + " refcount=" + Long.toUnsignedString(count));
        }
      }
    }
  }

  /** QEMU's compare_refcounts; returns the highest cluster in use by either count (0 if none). */
  private long compare() {
    long highest = 0;
    for (long i = 0; i < refs.clusters(); i++) {
      long storedCount;
      try {
        storedCount = stored.get(i);
      } catch (IOException e) {
        if (!signalledCorruption) {
          signalledCorruption = true;
          long index = i >>> width.blockBits(geometry.clusterBits());
          tally.note("qcow2: Image is corrupt: Refblock offset " + cHex(table.blockOffset(index))
              + " unaligned (reftable index: " + cHex(index) + "); further non-fatal corruption events will be suppressed");
        }
        tally.checkError("Can't get refcount for cluster " + i + ": Input/output error");
        continue;
      }
      long computed = refs.get(i);
      if (storedCount != 0 || computed != 0) {
        highest = i;
      }
      if (storedCount != computed) {
        String line = "cluster " + i + " refcount=" + Long.toUnsignedString(storedCount) + " reference="
            + Long.toUnsignedString(computed);
        if (Long.compareUnsigned(storedCount, computed) < 0) {
          tally.corruption("ERROR " + line);
        } else {
          tally.leak("Leaked " + line);
        }
      }
    }
    return highest;
  }

  /** QEMU's check_oflag_copied: COPIED is set on an active L1 or L2 entry exactly when the refcount is 1. */
  private void checkCopiedFlags() throws IOException {
    for (int i = 0; i < activeL1.length; i++) {
      long entry = activeL1[i];
      long l2Offset = entry & TableWalker.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      long count;
      try {
        count = stored.get(l2Offset >>> geometry.clusterBits());
      } catch (IOException e) {
        continue; // already counted as a check error by compare()
      }
      if ((count == 1) != ((entry & Geometry.COPIED) != 0)) {
        tally.corruption("ERROR OFLAG_COPIED L2 cluster: l1_index=" + i + " l1_entry=" + hex(entry) + " refcount="
            + Long.toUnsignedString(count));
      }
      checkCopiedFlags(walker.readL2(l2Offset));
    }
  }

  private void checkCopiedFlags(ByteBuffer table) {
    int words = geometry.wordsPerEntry();
    int entries = 1 << geometry.l2Bits();
    for (int j = 0; j < entries; j++) {
      long word = table.getLong(j * words * 8);
      if (!L2Kind.of(word, geometry.extendedL2(), head.hasDataFile()).ownsCluster()) {
        continue;
      }
      long count;
      if (head.hasDataFile()) {
        count = 1;
      } else {
        try {
          count = stored.get((word & L2Kind.OFFSET_MASK) >>> geometry.clusterBits());
        } catch (IOException e) {
          continue; // already counted as a check error by compare()
        }
      }
      if ((count == 1) != ((word & Geometry.COPIED) != 0)) {
        tally.corruption("ERROR OFLAG_COPIED data cluster: l2_entry=" + hex(word) + " refcount=" + Long.toUnsignedString(count));
      }
    }
  }

  /** C's {@code %#x}: {@code 0x} and lowercase hex, but a bare {@code 0} for zero. */
  private static String cHex(long v) {
    return v == 0 ? "0" : "0x" + hex(v);
  }
}
