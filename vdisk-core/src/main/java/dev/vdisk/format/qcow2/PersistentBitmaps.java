package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The persistent dirty bitmaps of an image open for writing, kept true as QEMU 7.2 keeps them
 * ({@code block/qcow2-bitmap.c}):
 *
 * <ul>
 *   <li>{@link #load}: the directory is read and checked; every bitmap not already in use is loaded into memory
 *       (those in use are inconsistent: kept as they are, never updated); nothing is written yet;
 *   <li>{@link #markInUse}: before the first write, the in_use flag of each loaded bitmap is set in the directory
 *       in place and flushed ({@code qcow2_load_dirty_bitmaps}), so that from then on a crash leaves them marked
 *       inconsistent, never wrong (each flags field lies inside one sector; no guest write happens before);
 *   <li>{@link #mark}: every written, zeroed or discarded range sets the granules it touches in the enabled ("auto")
 *       bitmaps; disabled ones stay as they are; {@link BitmapEditor} adds, removes, clears, enables, disables and
 *       merges bitmaps (qemu-img bitmap);
 *   <li>{@link #store}, at a clean close ({@code qcow2_store_persistent_dirty_bitmaps}): if nothing changed, the
 *       in_use flags are cleared in place and the file is as before the open; otherwise each new or changed
 *       bitmap's data goes to new clusters (none for a cluster of zeroes), then its table, then a new directory
 *       without in_use flags; once they and their refcounts are durable the bitmaps extension is switched to the
 *       new directory, and only then are the old tables, data and directory released. A crash before the switch
 *       leaves the old directory (bitmaps in use) and leaked clusters; after it, the new one and leaks.
 * </ul>
 *
 * Memory: the loaded bitmaps, at most {@link #MEMORY_LIMIT} bytes for an image, or the image is refused for
 * writing (QEMU would keep them; vdisk refuses rather than drop them). Thread-safety: {@link #mark} may be called
 * concurrently with itself; the rest runs before any request or under the writer's metadata lock at the close.
 */
final class PersistentBitmaps {
  /** The memory the bitmaps of one writable image may take: a 64 KiB granularity covers 32 TiB with it. */
  static final long MEMORY_LIMIT = 64L << 20;

  /**
   * One bitmap: its directory entry as found (null for one added in this session), its entry now (name, flags,
   * granularity), and its bits (null for one in use when the image was opened: inconsistent, never loaded).
   */
  static final class Slot {
    final BitmapEntry found;
    BitmapEntry entry;
    final DirtyBitmap bits;

    Slot(BitmapEntry found, BitmapEntry entry, DirtyBitmap bits) {
      this.found = found;
      this.entry = entry;
      this.bits = bits;
    }

    boolean dataChanged() {
      return found == null || bits != null && bits.modified();
    }

    boolean changed() {
      return dataChanged() || entry.flags() != found.flags();
    }
  }

  private final BlockDevice file;
  private final HostReader image;
  private final Qcow2Header header;
  /** The trusted directory found at open, if any. */
  private final Optional<BitmapTables> directory;
  /** The slots in directory order; replaced as a whole by edits so that {@link #mark} sees a consistent list. */
  private volatile List<Slot> slots;
  /** Bitmaps removed in this session that the directory found at open named: their clusters are freed at close. */
  private final List<BitmapEntry> removed = new ArrayList<>();

  private PersistentBitmaps(BlockDevice file, HostReader image, Qcow2Header header, Optional<BitmapTables> directory,
      List<Slot> slots) {
    this.file = file;
    this.image = image;
    this.header = header;
    this.directory = directory;
    this.slots = slots;
  }

  /**
   * Loads the bitmaps of an image about to be opened for writing; none where the image has no trusted ones (no
   * bitmaps extension, or the autoclear bit cleared by a program without bitmap support: then they are stale
   * already, and QEMU ignores them); null for a version 2 image, which cannot have any.
   *
   * @throws IOException a directory QEMU refuses, a duplicate name, or bitmaps over {@link #MEMORY_LIMIT}
   */
  static PersistentBitmaps load(BlockDevice file, HostReader image, Qcow2Header header, HeaderExtensions ext)
      throws IOException {
    if (header.version() < 3) {
      return null;
    }
    Optional<BitmapTables> directory = BitmapTables.trusted(image, header, ext);
    List<BitmapEntry> entries = directory.map(BitmapTables::entries).orElse(List.of());
    long memory = 0;
    for (int i = 0; i < entries.size(); i++) {
      BitmapEntry e = entries.get(i);
      for (int j = 0; j < i; j++) {
        if (entries.get(j).name().equals(e.name())) {
          throw Qcow2Errors.invalid("bitmap directory: name '" + e.name() + "'", "repeated", "unique bitmap names");
        }
      }
      if (!e.inUse()) {
        memory += DirtyBitmap.bytesFor(header.size(), e.granularityBits());
      }
    }
    checkMemory(memory, header.size());
    List<Slot> slots = new ArrayList<>();
    for (BitmapEntry e : entries) {
      slots.add(new Slot(e, e, e.inUse() ? null : DirtyBitmap.load(image, e, header.clusterSize(), header.size())));
    }
    return new PersistentBitmaps(file, image, header, directory, List.copyOf(slots));
  }

  /** Whether the image had trusted bitmaps when opened: then the autoclear bit stays set. */
  boolean trusted() {
    return directory.isPresent();
  }

  static void checkMemory(long bytes, long size) throws BlockDeviceException {
    if (bytes > MEMORY_LIMIT) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "qcow2: persistent bitmaps of a " + size + "-byte disk: "
          + bytes + " bytes in memory (expected: at most " + MEMORY_LIMIT + " to keep them while writing; open the "
          + "image read-only, or remove or coarsen bitmaps with qemu-img bitmap)");
    }
  }

  /** Sets the in_use flag of every loaded bitmap in the directory, in place and durably. */
  void markInUse() throws IOException {
    if (directory.isEmpty() || slots.stream().allMatch(s -> s.bits == null)) {
      return;
    }
    List<BitmapEntry> marked = new ArrayList<>();
    for (Slot s : slots) {
      marked.add(s.bits == null ? s.found : s.found.withFlags(s.found.flags() | BitmapEntry.FLAG_IN_USE));
    }
    file.write(directory.get().directoryOffset(), BitmapEntry.encodeAll(marked), Set.of());
    file.flush();
  }

  /** Sets the granules {@code [offset, offset + length)} touches in every enabled bitmap. */
  void mark(long offset, long length) {
    // By index, as every write calls this: a for-each allocates an iterator of the list, empty or not.
    List<Slot> current = slots;
    for (int i = 0; i < current.size(); i++) {
      Slot s = current.get(i);
      if (s.bits != null && s.entry.auto()) {
        s.bits.set(offset, length);
      }
    }
  }

  /** The trusted directory found at open, if any: the one in use until {@link #store} writes its successor. */
  Optional<BitmapTables> directoryAtOpen() {
    return directory;
  }

  /** The bitmaps now, in directory order; for {@link BitmapEditor}. */
  List<Slot> slots() {
    return slots;
  }

  /** Replaces the bitmaps (an edit by {@link BitmapEditor}); {@code gone} was removed, if it existed at open. */
  void replace(List<Slot> next, Slot gone) {
    if (gone != null && gone.found != null) {
      removed.add(gone.found);
    }
    slots = List.copyOf(next);
  }

  Qcow2Header header() {
    return header;
  }

  /**
   * Refuses a resize to {@code newSize} that the bitmaps cannot follow, before anything changes: QEMU refuses one
   * while a bitmap is inconsistent ({@code qcow2_truncate_bitmaps_check}); vdisk also refuses to outgrow its memory
   * bound.
   */
  void checkResize(long newSize) throws IOException {
    long memory = 0;
    for (Slot s : slots) {
      if (s.bits == null) {
        throw new BlockDeviceException(BlockError.ENOTSUP, "resize: bitmap '" + s.entry.name() + "' is inconsistent "
            + "and cannot be used (expected: consistent bitmaps; remove it with qemu-img bitmap --remove)");
      }
      memory += DirtyBitmap.bytesFor(newSize, s.entry.granularityBits());
    }
    checkMemory(memory, newSize);
  }

  /** Follows a resize checked by {@link #checkResize}: new granules are clean, as in QEMU. */
  void resize(long newSize) {
    for (Slot s : slots) {
      s.bits.resize(newSize);
    }
  }

  /**
   * Stores the bitmaps (class comment); for the close, under the writer's metadata lock, after the image's own
   * metadata is written back.
   *
   * @param writeBack writes back every refcount change and flushes the file
   */
  void store(RefcountStore refcounts, Qcow2Writer.WriteBack writeBack) throws IOException {
    if (removed.isEmpty() && slots.stream().noneMatch(Slot::changed)) {
      if (directory.isPresent() && slots.stream().anyMatch(s -> s.bits != null)) {
        // Nothing changed: the in_use flags are cleared in place, and the file is as it was before the open.
        file.write(directory.get().directoryOffset(), BitmapEntry.encodeAll(directory.get().entries()), Set.of());
        file.flush();
      }
      return;
    }
    List<BitmapEntry> next = new ArrayList<>();
    for (Slot s : slots) {
      BitmapEntry e = s.bits == null ? s.entry : s.entry.withFlags(s.entry.flags() & ~BitmapEntry.FLAG_IN_USE);
      next.add(s.dataChanged() ? storeData(refcounts, e, s.bits) : e);
    }
    long autoclear = header.autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW;
    if (next.isEmpty()) {
      HeaderExtensionArea.writeBitmaps(file, header, null, autoclear);
    } else {
      ByteBuffer dir = BitmapEntry.encodeAll(next);
      int dirSize = dir.remaining();
      long dirAt = refcounts.allocate(clusters(dirSize));
      file.write(dirAt, dir, Set.of());
      writeBack.run();
      switchDirectory(next.size(), dirSize, dirAt, autoclear | Features.AUTOCLEAR_BITMAPS);
    }
    for (Slot s : slots) {
      if (s.found != null && s.dataChanged()) {
        release(refcounts, s.found);
      }
    }
    for (BitmapEntry gone : removed) {
      release(refcounts, gone);
    }
    if (directory.isPresent()) {
      refcounts.free(directory.get().directoryOffset(), clusters(directory.get().directorySize()));
    }
  }

  /** Writes one bitmap's data clusters and table to new clusters; its entry for the new directory. */
  private BitmapEntry storeData(RefcountStore refcounts, BitmapEntry e, DirtyBitmap b) throws IOException {
    int clusterSize = header.clusterSize();
    long entries = b.tableSize(clusterSize);
    ByteBuffer table = ByteBuffer.allocate((int) entries * 8);
    for (int k = 0; k < entries; k++) {
      ByteBuffer data = b.cluster(k, clusterSize);
      if (data != null) {
        long at = refcounts.allocate(1);
        file.write(at, data, Set.of());
        table.putLong(k * 8, at);
      }
    }
    long tableAt = refcounts.allocate(clusters(table.capacity()));
    file.write(tableAt, table, Set.of());
    return e.withTable(tableAt, entries);
  }

  /** Releases the table and data clusters of a bitmap as the directory found at open names them. */
  private void release(RefcountStore refcounts, BitmapEntry old) throws IOException {
    ByteBuffer table = image.readMetadata("bitmap table of '" + old.name() + "'", old.tableOffset(),
        (int) old.tableSize() * 8);
    for (int k = 0; k < old.tableSize(); k++) {
      long entry = table.getLong(k * 8);
      long at = entry & BitmapTables.ENTRY_OFFSET_MASK;
      if (at != 0 && BitmapTables.validEntry(entry, header.clusterSize())) {
        refcounts.free(at, 1);
      }
    }
    refcounts.free(old.tableOffset(), clusters(old.tableSize() * 8));
  }

  /**
   * Points the bitmaps extension at the new directory, durably. Where the image had the extension, its 24 bytes are
   * rewritten in place: at once where they lie in one 512-byte sector (the unit a power loss keeps whole), else with
   * the autoclear bit cleared around the write as QEMU's {@code update_ext_header_and_dir_in_place} does, so that
   * a torn extension is never trusted. Otherwise the header's extension area is rewritten with it, as QEMU does.
   */
  private void switchDirectory(int count, long size, long offset, long autoclear) throws IOException {
    ByteBuffer fields = ByteBuffer.allocate(HeaderExtensions.BITMAPS_LENGTH).putInt(count).putInt(0).putLong(size)
        .putLong(offset).flip();
    Optional<HeaderExtensions.Bitmaps> ext = HeaderExtensions.parse(firstCluster(), header).bitmaps();
    if (ext.isEmpty() || directory.isEmpty()) {
      HeaderExtensionArea.writeBitmaps(file, header, fields, autoclear);
      return;
    }
    long at = ext.get().fieldsAt();
    boolean oneSector = at / 512 == (at + fields.remaining() - 1) / 512;
    if (!oneSector) {
      writeAutoclear(autoclear & ~Features.AUTOCLEAR_BITMAPS);
    }
    file.write(at, fields, Set.of());
    file.flush();
    if (!oneSector) {
      writeAutoclear(autoclear);
    }
  }

  private ByteBuffer firstCluster() throws IOException {
    ByteBuffer first = ByteBuffer.allocate(header.clusterSize());
    image.readData(0, first);
    return first.clear();
  }

  private void writeAutoclear(long bits) throws IOException {
    file.write(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, ByteBuffer.allocate(8).putLong(0, bits), Set.of());
    file.flush();
  }

  private int clusters(long bytes) {
    return (int) Math.ceilDiv(bytes, header.clusterSize());
  }
}
