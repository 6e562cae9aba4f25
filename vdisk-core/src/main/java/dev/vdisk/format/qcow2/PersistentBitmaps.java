package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
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
 *       bitmaps; disabled ones stay as they are;
 *   <li>{@link #store}, at a clean close ({@code qcow2_store_persistent_dirty_bitmaps}): if no bitmap changed, the
 *       in_use flags are cleared in place and the file is as before the open; otherwise each changed bitmap's data
 *       goes to new clusters (none for a cluster of zeroes), then its table, then a new directory without the
 *       in_use flags; once they and their refcounts are durable the bitmaps extension is switched to the new
 *       directory, and only then are the old tables, data and directory released. A crash before the switch
 *       leaves the old directory (bitmaps in use) and leaked clusters; after it, the new one and leaks.
 * </ul>
 *
 * Memory: the loaded bitmaps, at most {@link #MEMORY_LIMIT} bytes for an image, or the image is refused for
 * writing (QEMU would keep them; vdisk refuses rather than drop them). Thread-safety: {@link #mark} may be called
 * concurrently; the rest under the writer's metadata lock or before any request.
 */
final class PersistentBitmaps {
  /** The memory the bitmaps of one writable image may take: a 64 KiB granularity covers 32 TiB with it. */
  static final long MEMORY_LIMIT = 64L << 20;

  private final BlockDevice file;
  private final HostReader image;
  private final Qcow2Header header;
  private final HeaderExtensions.Bitmaps extension;
  private final int clusterSize;
  private final BitmapTables directory;
  /** Aligned with the directory's entries: the bitmap in memory, or null for one in use (inconsistent) at open. */
  private final List<DirtyBitmap> loaded;

  private PersistentBitmaps(BlockDevice file, HostReader image, Qcow2Header header, HeaderExtensions.Bitmaps extension,
      BitmapTables directory, List<DirtyBitmap> loaded) {
    this.file = file;
    this.image = image;
    this.header = header;
    this.extension = extension;
    this.clusterSize = header.clusterSize();
    this.directory = directory;
    this.loaded = loaded;
  }

  /**
   * Loads the bitmaps of an image about to be opened for writing; null where there are none to keep (no bitmaps
   * extension, a version 2 image, or the autoclear bit cleared by a program without bitmap support: then they are
   * stale already, and QEMU ignores them).
   *
   * @throws IOException a directory QEMU refuses, a duplicate name, or bitmaps over {@link #MEMORY_LIMIT}
   */
  static PersistentBitmaps load(BlockDevice file, HostReader image, Qcow2Header header, HeaderExtensions ext)
      throws IOException {
    if (ext.bitmaps().isEmpty() || header.version() < 3
        || (header.autoclearFeatures() & Features.AUTOCLEAR_BITMAPS) == 0) {
      return null;
    }
    HeaderExtensions.Bitmaps fields = ext.bitmaps().get();
    BitmapTables directory = BitmapTables.read(image, fields, header.clusterSize(), header.size());
    Set<String> names = new HashSet<>();
    long memory = 0;
    for (BitmapEntry e : directory.entries()) {
      if (!names.add(e.name())) {
        throw Qcow2Errors.invalid("bitmap directory: name '" + e.name() + "'", "repeated", "unique bitmap names");
      }
      if (!e.inUse()) {
        memory += DirtyBitmap.bytesFor(header.size(), e.granularityBits());
      }
    }
    checkMemory(memory, header.size());
    List<DirtyBitmap> loaded = new ArrayList<>();
    for (BitmapEntry e : directory.entries()) {
      loaded.add(e.inUse() ? null : DirtyBitmap.load(image, e, header.clusterSize(), header.size()));
    }
    return new PersistentBitmaps(file, image, header, fields, directory, loaded);
  }

  private static void checkMemory(long bytes, long size) throws BlockDeviceException {
    if (bytes > MEMORY_LIMIT) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "qcow2: persistent bitmaps of a " + size + "-byte disk: "
          + bytes + " bytes in memory (expected: at most " + MEMORY_LIMIT + " to keep them while writing; open the "
          + "image read-only, or remove or coarsen bitmaps with qemu-img bitmap)");
    }
  }

  /** Sets the in_use flag of every loaded bitmap in the directory, in place and durably. */
  void markInUse() throws IOException {
    List<BitmapEntry> marked = new ArrayList<>();
    boolean changed = false;
    for (int i = 0; i < loaded.size(); i++) {
      BitmapEntry e = directory.entries().get(i);
      changed |= loaded.get(i) != null;
      marked.add(loaded.get(i) == null ? e : e.withFlags(e.flags() | BitmapEntry.FLAG_IN_USE));
    }
    if (changed) {
      file.write(directory.directoryOffset(), BitmapEntry.encodeAll(marked), Set.of());
      file.flush();
    }
  }

  /** Sets the granules {@code [offset, offset + length)} touches in every enabled bitmap. */
  void mark(long offset, long length) {
    for (int i = 0; i < loaded.size(); i++) {
      DirtyBitmap b = loaded.get(i);
      if (b != null && directory.entries().get(i).auto()) {
        b.set(offset, length);
      }
    }
  }

  /**
   * Refuses a resize to {@code newSize} that the bitmaps cannot follow, before anything changes: QEMU refuses one
   * while a bitmap is inconsistent ({@code qcow2_truncate_bitmaps_check}); vdisk also refuses to outgrow its memory
   * bound.
   */
  void checkResize(long newSize) throws IOException {
    long memory = 0;
    for (int i = 0; i < loaded.size(); i++) {
      BitmapEntry e = directory.entries().get(i);
      if (loaded.get(i) == null) {
        throw new BlockDeviceException(BlockError.ENOTSUP, "resize: bitmap '" + e.name() + "' is inconsistent and "
            + "cannot be used (expected: consistent bitmaps; remove it with qemu-img bitmap --remove)");
      }
      memory += DirtyBitmap.bytesFor(newSize, e.granularityBits());
    }
    checkMemory(memory, newSize);
  }

  /** Follows a resize checked by {@link #checkResize}: new granules are clean, as in QEMU. */
  void resize(long newSize) {
    for (DirtyBitmap b : loaded) {
      if (b != null) {
        b.resize(newSize);
      }
    }
  }

  /**
   * Stores the loaded bitmaps (class comment); for the close, under the writer's metadata lock, after the image's
   * own metadata is written back.
   *
   * @param writeBack writes back every refcount change and flushes the file
   */
  void store(RefcountStore refcounts, Qcow2Writer.WriteBack writeBack) throws IOException {
    if (loaded.stream().allMatch(b -> b == null)) {
      return;
    }
    if (loaded.stream().noneMatch(b -> b != null && b.modified())) {
      // Nothing changed: the in_use flags are cleared in place, and the file is as it was before the open.
      file.write(directory.directoryOffset(), BitmapEntry.encodeAll(directory.entries()), Set.of());
      file.flush();
      return;
    }
    List<BitmapEntry> next = new ArrayList<>();
    for (int i = 0; i < loaded.size(); i++) {
      BitmapEntry e = directory.entries().get(i);
      DirtyBitmap b = loaded.get(i);
      next.add(b == null || !b.modified() ? e : storeData(refcounts, e, b));
    }
    ByteBuffer dir = BitmapEntry.encodeAll(next);
    int dirSize = dir.remaining();
    long dirAt = refcounts.allocate(clusters(dirSize));
    file.write(dirAt, dir, Set.of());
    writeBack.run();
    switchDirectory(next.size(), dirSize, dirAt);
    for (int i = 0; i < loaded.size(); i++) {
      if (loaded.get(i) != null && loaded.get(i).modified()) {
        release(refcounts, directory.entries().get(i));
      }
    }
    refcounts.free(directory.directoryOffset(), clusters(directory.directorySize()));
  }

  /** Writes one bitmap's data clusters and table to new clusters; its entry for the new directory. */
  private BitmapEntry storeData(RefcountStore refcounts, BitmapEntry e, DirtyBitmap b) throws IOException {
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
    return new BitmapEntry(tableAt, entries, e.auto() ? BitmapEntry.FLAG_AUTO : 0, e.granularityBits(), e.name());
  }

  /** Releases the table and data clusters of a bitmap as the old directory names them. */
  private void release(RefcountStore refcounts, BitmapEntry old) throws IOException {
    ByteBuffer table = image.readMetadata("bitmap table of '" + old.name() + "'", old.tableOffset(),
        (int) old.tableSize() * 8);
    for (int k = 0; k < old.tableSize(); k++) {
      long at = table.getLong(k * 8) & BitmapTables.ENTRY_OFFSET_MASK;
      if (at != 0) {
        refcounts.free(at, 1);
      }
    }
    refcounts.free(old.tableOffset(), clusters(old.tableSize() * 8));
  }

  /**
   * Points the bitmaps extension at the new directory, durably. Its 24 bytes are written at once where they lie in
   * one 512-byte sector (the unit a power loss keeps whole); otherwise the autoclear bit is cleared around the write
   * as QEMU's {@code update_ext_header_and_dir_in_place} does, so that a torn extension is never trusted.
   */
  private void switchDirectory(int count, long size, long offset) throws IOException {
    ByteBuffer fields = ByteBuffer.allocate(HeaderExtensions.BITMAPS_LENGTH).putInt(count).putInt(0).putLong(size)
        .putLong(offset).flip();
    long at = extension.fieldsAt();
    long autoclear = header.autoclearFeatures() & (Features.AUTOCLEAR_BITMAPS | Features.AUTOCLEAR_DATA_FILE_RAW);
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

  private void writeAutoclear(long bits) throws IOException {
    file.write(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, ByteBuffer.allocate(8).putLong(0, bits), Set.of());
    file.flush();
  }

  private int clusters(long bytes) {
    return (int) Math.ceilDiv(bytes, clusterSize);
  }
}
