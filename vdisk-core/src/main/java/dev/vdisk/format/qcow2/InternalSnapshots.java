package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.SnapshotNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * qemu-img snapshot's create, apply and delete on the qcow2 image in a host file that nothing else has open (the
 * caller holds QEMU's write lock on it), with QEMU 7.2's semantics ({@code qcow2_snapshot_create}, {@code
 * qcow2_snapshot_goto}, {@code qcow2_snapshot_delete}) and its refusals; each change is one {@link
 * SnapshotTransaction}, so a power loss leaves the image before or after it, and a refusal leaves it untouched.
 *
 * <p>Like QEMU's open for writing, a dirty image (lazy refcounts not written back) is repaired first and unknown
 * autoclear feature bits are cleared; persistent bitmaps are kept as they are (QEMU refuses to apply a snapshot to an
 * image with any bitmap, and so does this class).
 */
final class InternalSnapshots {
  /** QEMU's QCOW_MAX_SNAPSHOTS. */
  static final int MAX_SNAPSHOTS = 65536;
  /** qemu-img copies the name into a 256-byte C string: longer names are cut to 255 bytes. */
  static final int MAX_NAME_BYTES = 255;

  private final BlockDevice file;
  private final HostReader reader;
  private final Qcow2Header header;
  private final Geometry geometry;
  private final HeaderExtensions extensions;
  private final List<SnapshotTable.Entry> table;

  private InternalSnapshots(BlockDevice file, Path path) throws IOException {
    this.file = file;
    this.reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(reader);
    if ((head.header().incompatibleFeatures() & Features.INCOMPAT_CORRUPT) != 0) {
      throw new BlockDeviceException(BlockError.EPERM, "qcow2: the image is marked corrupt and can only be opened "
          + "read-only (expected: repair it with qemu-img check -r all)");
    }
    if ((head.header().incompatibleFeatures() & Features.INCOMPAT_DIRTY) != 0) {
      CheckResult r = Qcow2Checker.repair(file, Repair.ALL, problem -> {});
      if (r.checkErrors() > 0 || r.corruptions() > 0) {
        throw new BlockDeviceException(BlockError.EIO, "qcow2: could not repair dirty image " + path
            + " (expected: an image that check -r all repairs)");
      }
      head = ImageHead.read(reader);
    }
    this.header = head.header();
    this.geometry = head.geometry();
    this.extensions = head.extensions();
    this.table = new ArrayList<>(SnapshotTable.parse(reader, header, false).entries());
  }

  /** Opens the snapshot metadata of the qcow2 image in {@code file}, named {@code path}. */
  static InternalSnapshots of(BlockDevice file, Path path) throws IOException {
    return new InternalSnapshots(file, path);
  }

  /** The snapshots in table order. */
  List<Snapshot> list() {
    return table.stream().map(SnapshotTable.Entry::snapshot).toList();
  }

  /**
   * Creates a disk-only snapshot of the active layer, as {@code qemu-img snapshot -c}: the next free numeric ID (one
   * more than the largest), the name cut to 255 bytes, no VM state, the current virtual size and icount 0; names
   * need not be unique, as in QEMU.
   *
   * @throws BlockDeviceException ENOTSUP for an image with an external data file, ENOSPC with 65536 snapshots
   */
  Snapshot create(String name, long dateSeconds, long dateNanos) throws IOException {
    if ((header.incompatibleFeatures() & Features.INCOMPAT_DATA_FILE) != 0) {
      throw new BlockDeviceException(BlockError.ENOTSUP,
          "snapshot: the image has an external data file (expected: none; QEMU cannot snapshot it either)");
    }
    if (table.size() >= MAX_SNAPSHOTS) {
      throw new BlockDeviceException(BlockError.ENOSPC,
          "snapshot: the image has " + table.size() + " snapshots (expected: fewer than " + MAX_SNAPSHOTS + ")");
    }
    Snapshot s = new Snapshot(nextId(), truncate(name), header.size(), 0, dateSeconds, dateNanos, 0, 0);
    clearUnknownAutoclear();
    SnapshotTransaction tx = new SnapshotTransaction(file, header, geometry);
    long[] active = tx.readL1("active L1 table", header.l1TableOffset(), header.l1Size());
    // The active L1 table becomes the snapshot's; a new one names the same L2 tables (copied where flags change).
    tx.count(active, 1);
    long[] next = tx.activeTables(active);
    long l1At = tx.placeL1(next);
    List<SnapshotTable.Entry> entries = new ArrayList<>(table);
    entries.add(new SnapshotTable.Entry(s, header.l1TableOffset(), header.l1Size(), new byte[0]));
    long tableAt = writeTable(tx, entries);
    tx.commit(new SnapshotTransaction.Switch(header.size(), next.length, l1At, entries.size(), tableAt));
    return s;
  }

  /**
   * Reverts the active layer to snapshot {@code idOrName} (its ID first, then its name), as {@code qemu-img snapshot
   * -a}: the virtual size becomes the snapshot's, the L1 table keeps at least its current size.
   *
   * @throws BlockDeviceException EBUSY-like EINVAL "Device has active dirty bitmaps" for an image with bitmaps,
   *     {@link SnapshotNotFoundException} where no snapshot matches
   */
  void apply(String idOrName) throws IOException {
    if (extensions.bitmaps().map(b -> b.nbBitmaps() > 0).orElse(false)) {
      throw new BlockDeviceException(BlockError.EINVAL, "Device has active dirty bitmaps");
    }
    SnapshotTable.Entry s = find(idOrName);
    long size = s.snapshot().virtualSize();
    if (size != header.size() && header.version() < 3) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "Can't resize a v2 image which has snapshots");
    }
    clearUnknownAutoclear();
    SnapshotTransaction tx = new SnapshotTransaction(file, header, geometry);
    long[] active = tx.readL1("active L1 table", header.l1TableOffset(), header.l1Size());
    long[] snap = tx.readL1("L1 table of snapshot " + s.snapshot().id(), s.l1TableOffset(), s.l1Size());
    long entries = Math.max(Math.max(active.length, snap.length), geometry.l1EntriesFor(size));
    long[] wanted = java.util.Arrays.copyOf(snap, (int) entries);
    for (int i = 0; i < wanted.length; i++) {
      wanted[i] &= TableWalker.L1_OFFSET_MASK;
    }
    tx.count(wanted, 1);
    tx.count(active, -1);
    tx.drop(header.l1TableOffset(), header.l1Size() * 8);
    long[] next = tx.activeTables(wanted);
    long l1At = tx.placeL1(next);
    tx.commit(new SnapshotTransaction.Switch(size, next.length, l1At, table.size(), header.snapshotsOffset()));
  }

  /**
   * Deletes the first snapshot named {@code name}, as {@code qemu-img snapshot -d} (which, unlike {@code -a}, finds
   * snapshots by name only): what only it referenced is freed and discarded, and the active tables regain their
   * COPIED flags where they own a cluster alone again.
   */
  void delete(String name) throws IOException {
    int index = 0;
    while (index < table.size() && !table.get(index).snapshot().name().equals(name)) {
      index++;
    }
    if (index == table.size()) {
      throw new SnapshotNotFoundException(name);
    }
    SnapshotTable.Entry s = table.get(index);
    clearUnknownAutoclear();
    SnapshotTransaction tx = new SnapshotTransaction(file, header, geometry);
    long[] snap = tx.readL1("L1 table of snapshot " + s.snapshot().id(), s.l1TableOffset(), s.l1Size());
    tx.count(snap, -1);
    tx.drop(s.l1TableOffset(), s.l1Size() * 8);
    List<SnapshotTable.Entry> entries = new ArrayList<>(table);
    // By index: a record's equals would spin its method handles at run time, milliseconds of a short command.
    entries.remove(index);
    long tableAt = writeTable(tx, entries);
    long[] active = tx.readL1("active L1 table", header.l1TableOffset(), header.l1Size());
    long[] next = tx.activeTables(active);
    long l1At = header.l1TableOffset();
    if (!java.util.Arrays.equals(next, active)) {
      l1At = tx.placeL1(next);
      tx.drop(header.l1TableOffset(), header.l1Size() * 8);
    }
    tx.commit(new SnapshotTransaction.Switch(header.size(), next.length, l1At, entries.size(), tableAt));
  }

  /** Writes the new snapshot table (none for no snapshots) and counts down the old one; returns where it went. */
  private long writeTable(SnapshotTransaction tx, List<SnapshotTable.Entry> entries) throws IOException {
    if (!table.isEmpty()) {
      tx.drop(header.snapshotsOffset(), SnapshotTable.parse(reader, header, false).tableBytes());
    }
    return entries.isEmpty() ? 0 : tx.place(SnapshotTable.encode(entries));
  }

  /** QEMU's find_snapshot_by_id_or_name: the first snapshot with this ID, else the first with this name. */
  private SnapshotTable.Entry find(String idOrName) throws SnapshotNotFoundException {
    for (SnapshotTable.Entry e : table) {
      if (e.snapshot().id().equals(idOrName)) {
        return e;
      }
    }
    for (SnapshotTable.Entry e : table) {
      if (e.snapshot().name().equals(idOrName)) {
        return e;
      }
    }
    throw new SnapshotNotFoundException(idOrName);
  }

  /** QEMU's find_new_snapshot_id: one more than the largest ID read as a number (non-numbers count as 0). */
  private String nextId() {
    long max = 0;
    for (SnapshotTable.Entry e : table) {
      max = Math.max(max, strtoul(e.snapshot().id()));
    }
    return Long.toString(max + 1);
  }

  private static long strtoul(String s) {
    int i = 0;
    while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
      i++;
    }
    long v = 0;
    for (; i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9' && v < Long.MAX_VALUE / 10 - 10; i++) {
      v = v * 10 + (s.charAt(i) - '0');
    }
    return v;
  }

  private static String truncate(String name) {
    byte[] b = name.getBytes(StandardCharsets.UTF_8);
    return b.length <= MAX_NAME_BYTES ? name : new String(b, 0, MAX_NAME_BYTES, StandardCharsets.UTF_8);
  }

  /** As QEMU's open for writing: autoclear bits it does not know are cleared (bitmaps stay valid: untouched). */
  private void clearUnknownAutoclear() throws IOException {
    long kept = header.autoclearFeatures() & Features.AUTOCLEAR_KNOWN;
    if (header.version() >= 3 && kept != header.autoclearFeatures()) {
      file.write(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, ByteBuffer.allocate(8).putLong(0, kept), Set.of());
      file.flush();
    }
  }
}
