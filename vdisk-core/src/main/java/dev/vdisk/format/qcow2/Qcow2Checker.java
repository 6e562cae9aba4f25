package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.CheckTally.hex;
import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckProblem.Kind;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A read-only consistency check of a qcow2 image with qemu-img check's semantics (QEMU's
 * {@code qcow2_check_refcounts}): computes the reference count of every host cluster from all metadata (header
 * cluster with its extensions, active L1 table and its L2 tables and clusters, each snapshot's L1 table and what it
 * references, the snapshot table, refcount table and blocks, bitmap directory and tables), compares it with the
 * stored refcounts (lower: a corruption; higher: a leak), then checks the COPIED flag of the active L1 and L2
 * entries against the stored refcounts. Damaged entries are reported and counted, never followed outside the file.
 *
 * <p><b>Repair</b> ({@link #repair}, qemu-img check -r, QEMU's {@code qcow2_check_refcounts} with a fix mode): the
 * counts are computed and compared once without fixing; then, if a referenced cluster has refcount 0 or a refcount
 * block is broken, {@code -r all} rebuilds the refcount structures ({@link RefcountRebuild}) and frees the old
 * ones, otherwise the comparison runs again and sets each wrong refcount that the mode allows to the computed
 * count through the {@link RefcountStore}. Those blocks are written and flushed before any COPIED flag is
 * corrected, so that a flag is never set on disk while the refcount it depends on is not yet 1. Every refcount a
 * repair writes moves from the stored count towards the computed one (leaks down, corruptions up), so a power loss
 * in the middle keeps each cluster at its old count or its true one: leaks at worst. A repair that leaves no
 * corruption clears the dirty and corrupt bits, last.
 *
 * <p>Only the header is held to the rules of a regular open ({@link ImageHead}); tables are read as QEMU reads them
 * in check mode, so a table that a regular open refuses (an L1 entry naming the header cluster, say) is reported
 * here instead.
 *
 * <p><b>Memory bound:</b> the {@link ReferenceCounts} array ({@code (clusters in the file + 1) * refcount_bits / 8}
 * bytes), the refcount table (at most 8 MiB), the active L1 table and one snapshot L1 table (at most 32 MiB each),
 * the first cluster, one L2 table and two refcount blocks (a cluster each, at most 2 MiB), and the snapshot list;
 * a repair also holds the refcount blocks it changed until they are written, and a rebuild the new refcount table
 * (at most 8 MiB) and its one block at a time.
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
  /**
   * A repair found damage that QEMU's driver treats as fatal on an image open for writing: the image is marked
   * corrupt and nothing more is written (QEMU makes the image unusable), so the repair fails.
   */
  private boolean markedCorrupt;
  private SnapshotTable.Parsed snapshotTable;
  private Optional<BitmapTables> bitmaps = Optional.empty();
  /** What may be fixed; null for a read-only check. */
  private final Repair fix;
  /** The refcount structures are broken in a way only a rebuild repairs (QEMU's {@code rebuild}). */
  private boolean rebuild;

  private Qcow2Checker(HostReader file, ImageHead head, CheckTally tally, Repair fix) throws IOException {
    this.file = file;
    this.fix = fix;
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
    this.walker = new TableWalker(file, geometry, head.hasDataFile(), refs, tally,
        fix == Repair.ALL ? this::zeroMisalignedPreallocation : null);
    this.activeL1 = walker.readL1(h.l1TableOffset(), (int) h.l1Size());
  }

  /**
   * Checks the qcow2 image whose bytes are {@code file}.
   *
   * @param problems receives each problem as it is found
   * @throws IOException when the header cannot be read or the check cannot be completed
   */
  static CheckResult check(BlockDevice file, Consumer<CheckProblem> problems) throws IOException {
    return check(file, null, problems);
  }

  /**
   * Checks the qcow2 image in {@code file} (open for writing) and repairs what {@code mode} allows; the result
   * holds the counts fixed (see the class comment for the order of the writes). Also for the opener, which repairs
   * a dirty image before writing it (QEMU's open).
   *
   * @throws IOException when the check cannot be completed, or {@code -r leaks} meets damage that only a rebuild
   *     of the refcount structures repairs (QEMU: "need to rebuild refcount structures")
   */
  static CheckResult repair(BlockDevice file, Repair mode, Consumer<CheckProblem> problems) throws IOException {
    return check(file, mode, problems);
  }

  /**
   * The number of host clusters that the qcow2 image in {@code file} references (header, L1/L2 and refcount
   * structures, snapshot tables, bitmaps, data), computed from its metadata as {@link #check} computes them; the
   * stored refcounts are not consulted. Reads only; problems are ignored here (run a check for them).
   */
  static long referencedClusters(BlockDevice file) throws IOException {
    HostReader reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(reader);
    Qcow2Checker checker = new Qcow2Checker(reader, head, new CheckTally(problem -> {}), null);
    checker.calculate(SnapshotTable.parse(reader, head.header(), true));
    long referenced = 0;
    for (long i = 0; i < checker.refs.clusters(); i++) {
      if (checker.refs.get(i) != 0) {
        referenced++;
      }
    }
    return referenced;
  }

  private static CheckResult check(BlockDevice file, Repair fix, Consumer<CheckProblem> problems)
      throws IOException {
    HostReader reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.readForCheck(reader);
    if (head.hasDataFile()) {
      // Data clusters are not counted, but QEMU opens the data file and cannot check an image without it.
      String name = head.extensions().dataFile()
          .orElseThrow(() -> invalid("external data file name", "absent", "a data file name header extension with incompatible feature bit 2"));
      Path path = ImageContext.resolveDataFile(name);
      if (!Files.exists(path)) {
        throw invalid("external data file", path, "an existing file");
      }
    } else if ((head.header().autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW) != 0) {
      // QEMU's open refuses it, for a check too ("data-file-raw requires a data file").
      throw invalid("autoclear feature bit 1 (data_file_raw)", "set", "unset without an external data file");
    }
    if (fix != null) {
      clearUnknownAutoclearBits(file, head.header());
    }
    CheckTally tally = new CheckTally(problems);
    CheckResult result = new Qcow2Checker(reader, head, tally, fix).run();
    if (fix != null && result.checkErrors() == 0 && result.corruptions() == 0) {
      markCleanAndConsistent(file, head.header());
    }
    return result;
  }

  private CheckResult run() throws IOException {
    Qcow2Header h = head.header();
    SnapshotTableRepair snapshotRepair = SnapshotTableRepair.read(file, h, fix == Repair.ALL, tally);
    SnapshotTable.Parsed snapshots = snapshotRepair.table();
    calculate(snapshots);
    CheckTally beforeCompare = tally.copy();
    long highest = compare(null);
    Qcow2Checker copied = this;
    if (rebuild && fix == Repair.ALL) {
      CheckTally old = tally.copy();
      tally.note("Rebuilding refcount structure");
      if (markedCorrupt) {
        throw unusable("ERROR writing refblock");
      }
      RefcountRebuild.rebuild(file.device(), refs, width, geometry.clusterBits());
      // The counts are computed again over the new structures, where the old ones are leaks, freed right away;
      // what that pass finds is not counted (QEMU's saved result), except leaks it could not free.
      tally.corruptions = 0;
      tally.leaks = 0;
      Qcow2Checker again = new Qcow2Checker(file, ImageHead.readForCheck(file), tally, fix);
      again.calculate(snapshots);
      CheckTally saved = tally.copy();
      tally.restore(new CheckTally(problem -> {}));
      highest = again.compareAndWrite(Repair.LEAKS);
      if (again.rebuild) {
        tally.note("ERROR rebuilt refcount structure is still broken");
      }
      long freshLeaks = tally.leaks;
      tally.restore(saved);
      if (tally.corruptions < old.corruptions) {
        tally.corruptionsFixed += old.corruptions - tally.corruptions;
      }
      if (tally.leaks < old.leaks) {
        tally.leaksFixed += old.leaks - tally.leaks;
      }
      tally.leaks += freshLeaks;
      copied = again;
    } else if (fix != null) {
      if (rebuild) {
        tally.report(Kind.CHECK_ERROR, "ERROR need to rebuild refcount structures");
        tally.checkErrors++;
        throw new BlockDeviceException(BlockError.EIO, "check failed: the refcount structures need to be rebuilt "
            + "(expected: -r all, which rebuilds them)");
      }
      if (tally.leaks != 0 || tally.corruptions != 0) {
        tally.restore(beforeCompare);
        highest = compareAndWrite(fix);
      }
    }
    copied.checkCopiedFlags();
    // QEMU's qcow2_check_fix_snapshot_table: the table's own damage is repaired once the refcounts are.
    if (snapshotRepair.damage() > 0 && fix == Repair.ALL) {
      snapshotRepair.rewrite(file.device(), copied.stored, ImageHead.readForCheck(file).header(), tally);
      tally.corruptionsFixed += snapshotRepair.damage();
    } else {
      tally.corruptions += snapshotRepair.damage();
    }
    long virtualSize = (h.size() + 511) & ~511L;
    return tally.result((highest + 1) << geometry.clusterBits(), Math.ceilDiv(virtualSize, geometry.clusterSize()));
  }

  /** {@link #compare} with {@code mode}'s fixes, whose refcount blocks are then written and flushed. */
  private long compareAndWrite(Repair mode) throws IOException {
    long highest = compare(mode);
    if (stored.writeBlocks()) {
      file.device().flush();
    }
    return highest;
  }

  /** QEMU's qcow2_mark_clean and qcow2_mark_consistent: clears the dirty and corrupt bits once all is durable. */
  /**
   * A repair writes the image, so first it clears the autoclear bits vdisk does not know, as the specification asks
   * of every writer and as qemu-img check -r does on opening the image.
   */
  private static void clearUnknownAutoclearBits(BlockDevice file, Qcow2Header h) throws IOException {
    long kept = h.autoclearFeatures() & Features.AUTOCLEAR_KNOWN;
    if (kept != h.autoclearFeatures()) {
      file.write(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, ByteBuffer.allocate(8).putLong(0, kept), Set.of());
      file.flush();
    }
  }

  private static void markCleanAndConsistent(BlockDevice file, Qcow2Header h) throws IOException {
    long bits = Features.INCOMPAT_DIRTY | Features.INCOMPAT_CORRUPT;
    if (h.version() >= 3 && (h.incompatibleFeatures() & bits) != 0) {
      file.flush();
      ByteBuffer field = ByteBuffer.allocate(8).putLong(0, h.incompatibleFeatures() & ~bits);
      file.write(Qcow2Header.INCOMPATIBLE_FEATURES_FIELD, field, Set.of());
      file.flush();
    }
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
    return Optional.of(BitmapTables.read(file, ext.get(), geometry.clusterSize(), head.header().size()));
  }

  /** QEMU's calculate_refcounts: every reference the metadata makes. */
  private void calculate(SnapshotTable.Parsed snapshots) throws IOException {
    Qcow2Header h = head.header();
    snapshotTable = snapshots;
    bitmaps = readBitmaps();
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
    // A LUKS encrypted image's header and key material.
    if (head.extensions().cryptoHeader().isPresent()) {
      HeaderExtensions.CryptoHeader c = head.extensions().cryptoHeader().get();
      refs.add(c.offset(), c.length());
    }
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
        rebuild = true;
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
          rebuild = true;
        }
      }
    }
  }

  /**
   * QEMU's compare_refcounts; returns the highest cluster in use by either count (0 if none). With a repair
   * {@code mode}, each difference it allows is fixed in the refcount store (written by the caller).
   */
  private long compare(Repair mode) throws IOException {
    long highest = 0;
    for (long i = 0; i < refs.clusters(); i++) {
      long storedCount;
      try {
        storedCount = stored.get(i);
      } catch (IOException e) {
        long index = i >>> width.blockBits(geometry.clusterBits());
        // QEMU signals corruption for an unaligned block; a block it cannot read is an I/O error only.
        if (!signalledCorruption && (table.blockOffset(index) & geometry.clusterMask()) != 0) {
          signalledCorruption = true;
          signalCorruption("Refblock offset " + cHex(table.blockOffset(index)) + " unaligned (reftable index: "
              + cHex(index) + ")");
        }
        tally.checkError("Can't get refcount for cluster " + i + ": Input/output error");
        continue;
      }
      long computed = refs.get(i);
      if (storedCount != 0 || computed != 0) {
        highest = i;
      }
      if (storedCount != computed) {
        boolean tooLow = Long.compareUnsigned(storedCount, computed) < 0;
        // A refcount of 0 may be a missing refcount block: only a rebuild fixes that.
        boolean fixable = storedCount != 0 && mode != null && (!tooLow || mode.fixesErrors());
        if (storedCount == 0) {
          rebuild = true;
        }
        String line = "cluster " + i + " refcount=" + Long.toUnsignedString(storedCount) + " reference="
            + Long.toUnsignedString(computed);
        tally.report(tooLow ? Kind.CORRUPTION : Kind.LEAK,
            (fixable ? "Repairing " : tooLow ? "ERROR " : "Leaked ") + line);
        if (fixable && fixRefcount(i, computed)) {
          if (tooLow) {
            tally.corruptionsFixed++;
          } else {
            tally.leaksFixed++;
          }
          continue;
        }
        if (tooLow) {
          tally.corruptions++;
        } else {
          tally.leaks++;
        }
      }
    }
    return highest;
  }

  /**
   * QEMU's qcow2_signal_corruption: read-only, a note; during a repair the image is marked corrupt on disk and
   * takes no more writes.
   */
  private void signalCorruption(String what) throws IOException {
    if (fix == null) {
      tally.note("qcow2: Image is corrupt: " + what + "; further non-fatal corruption events will be suppressed");
      return;
    }
    tally.note("qcow2: Marking image as corrupt: " + what + "; further corruption events will be suppressed");
    markedCorrupt = true;
    Qcow2Header h = head.header();
    if (h.version() >= 3) {
      ByteBuffer field = ByteBuffer.allocate(8).putLong(0, h.incompatibleFeatures() | Features.INCOMPAT_CORRUPT);
      file.device().write(Qcow2Header.INCOMPATIBLE_FEATURES_FIELD, field, Set.of());
      file.device().flush();
    }
  }

  /** The exception for a write the repair may not do after {@link #signalCorruption}. */
  private static BlockDeviceException unusable(String what) {
    return new BlockDeviceException(BlockError.EIO, what + ": Input/output error (the image was marked corrupt)");
  }

  /**
   * QEMU's fix_l2_entry_by_zero for {@code -r all}: the entry {@code index} of the L2 table at {@code l2Offset}
   * (held in {@code table}) becomes a plain zero cluster, written at once, unless the table overlaps other
   * metadata, which marks the image corrupt and ends the repair.
   *
   * @return whether the entry was fixed
   */
  private boolean zeroMisalignedPreallocation(long l2Offset, ByteBuffer table, int index) throws IOException {
    int entryBytes = geometry.wordsPerEntry() * 8;
    int at = index * entryBytes;
    if (geometry.extendedL2()) {
      long bitmap = table.getLong(at + 8);
      bitmap |= bitmap << 32;
      table.putLong(at + 8, bitmap & 0xffff_ffff_0000_0000L);
      table.putLong(at, 0);
    } else {
      table.putLong(at, Geometry.ZERO);
    }
    long where = l2Offset + at;
    String overlap = markedCorrupt ? null : overlappedMetadata(where, entryBytes);
    if (overlap != null || markedCorrupt) {
      if (overlap != null) {
        signalCorruption("Preventing invalid write on metadata (overlaps with " + overlap + ")");
      }
      tally.report(Kind.CHECK_ERROR, "ERROR: Overlap check failed");
      tally.checkErrors++;
      throw unusable("overwriting an L2 table entry");
    }
    file.device().write(where, table.slice(at, entryBytes), Set.of());
    file.device().flush();
    return true;
  }

  /**
   * QEMU's metadata overlap check (its default set, without inactive L2 tables and the bitmap directory): which
   * metadata, other than active L2 tables, {@code [offset, offset + size)} touches, or null.
   */
  private String overlappedMetadata(long offset, long size) throws IOException {
    Qcow2Header h = head.header();
    long cs = geometry.clusterSize();
    if (offset < cs) {
      return "qcow2_header";
    }
    long start = offset & ~geometry.clusterMask();
    long end = (offset + size + geometry.clusterMask()) & ~geometry.clusterMask();
    if (overlaps(start, end, h.l1TableOffset(), activeL1.length * 8L)) {
      return "active L1 table";
    }
    if (overlaps(start, end, h.refcountTableOffset(), h.refcountTableClusters() << h.clusterBits())) {
      return "refcount table";
    }
    for (int i = 0; i < table.size(); i++) {
      long block = table.blockOffset(i);
      if (block != 0 && overlaps(start, end, block, cs)) {
        return "refcount block";
      }
    }
    if (snapshotTable != null && overlaps(start, end, h.snapshotsOffset(), snapshotTable.tableBytes())) {
      return "snapshot table";
    }
    if (snapshotTable != null) {
      for (SnapshotTable.Entry e : snapshotTable.entries()) {
        if (overlaps(start, end, e.l1TableOffset(), e.l1Size() * 8L)) {
          return "inactive L1 table";
        }
      }
    }
    return null;
  }

  private static boolean overlaps(long start, long end, long offset, long size) {
    return size > 0 && offset < end && start < offset + size;
  }

  /** Sets the stored refcount of {@code cluster} to {@code count}; false if that fails (QEMU counts it unfixed). */
  private boolean fixRefcount(long cluster, long count) {
    if (markedCorrupt) {
      return false;
    }
    try {
      stored.repair(cluster, count);
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /**
   * QEMU's check_oflag_copied: COPIED is set on an active L1 or L2 entry exactly when the refcount is 1. With
   * {@code -r all} a wrong flag is corrected: the L1 entry, or the whole L2 table, written in place.
   */
  private void checkCopiedFlags() throws IOException {
    // -r leaks repairs the flags too when the refcounts are now right: they were fixed just before.
    boolean repair = fix == Repair.ALL
        || fix == Repair.LEAKS && tally.checkErrors == 0 && tally.corruptions == 0 && tally.leaks == 0;
    long l1Offset = head.header().l1TableOffset();
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
        tally.report(Kind.CORRUPTION, (repair ? "Repairing" : "ERROR") + " OFLAG_COPIED L2 cluster: l1_index=" + i + " l1_entry="
            + hex(entry) + " refcount=" + Long.toUnsignedString(count));
        if (repair) {
          if (markedCorrupt) {
            throw unusable("writing an L1 table entry");
          }
          activeL1[i] = count == 1 ? entry | Geometry.COPIED : entry & ~Geometry.COPIED;
          file.device().write(l1Offset + 8L * i, ByteBuffer.allocate(8).putLong(0, activeL1[i]), Set.of());
          file.device().flush();
          tally.corruptionsFixed++;
        } else {
          tally.corruptions++;
        }
      }
      ByteBuffer table = walker.readL2(l2Offset);
      if (checkCopiedFlags(table, repair)) {
        if (markedCorrupt) {
          throw unusable("writing an L2 table");
        }
        file.device().write(l2Offset, table.clear(), Set.of());
        file.device().flush();
      }
    }
  }

  /** Returns whether {@code table} was corrected (only when {@code repair}). */
  private boolean checkCopiedFlags(ByteBuffer table, boolean repair) {
    boolean dirty = false;
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
        tally.report(Kind.CORRUPTION, (repair ? "Repairing" : "ERROR") + " OFLAG_COPIED data cluster: l2_entry=" + hex(word)
            + " refcount=" + Long.toUnsignedString(count));
        if (repair) {
          table.putLong(j * words * 8, count == 1 ? word | Geometry.COPIED : word & ~Geometry.COPIED);
          dirty = true;
          tally.corruptionsFixed++;
        } else {
          tally.corruptions++;
        }
      }
    }
    return dirty;
  }

  /** C's {@code %#x}: {@code 0x} and lowercase hex, but a bare {@code 0} for zero. */
  private static String cHex(long v) {
    return v == 0 ? "0" : "0x" + hex(v);
  }
}
