package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.BitmapEdit;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * qemu-img bitmap's operations on the bitmaps of an image open for writing, each checked as QEMU's QMP commands
 * check it ({@code qmp_block_dirty_bitmap_add} and its siblings), failing with QEMU's messages. The changes are
 * stored at the close by {@link PersistentBitmaps#store}.
 */
final class BitmapEditor {
  private final Qcow2Image image;
  private final PersistentBitmaps bitmaps;
  private final String name;

  private BitmapEditor(Qcow2Image image, PersistentBitmaps bitmaps, String name) {
    this.image = image;
    this.bitmaps = bitmaps;
    this.name = name;
  }

  /** Applies {@code action} to bitmap {@code name} of {@code image} (open for writing). */
  static void apply(Qcow2Image image, String name, BitmapEdit action) throws IOException {
    new BitmapEditor(image, image.persistentBitmaps(), name).apply(action);
  }

  private void apply(BitmapEdit a) throws IOException {
    switch (a.op()) {
      case ADD -> add(a.granularity());
      case REMOVE -> remove();
      case CLEAR -> usable(name).bits.clear();
      case ENABLE -> flags(usable(name), true);
      case DISABLE -> flags(usable(name), false);
      case MERGE -> merge(a);
    }
  }

  private void add(long granularity) throws IOException {
    if (name.isEmpty()) {
      throw error("Bitmap name cannot be empty");
    }
    long g = granularity == 0 ? defaultGranularity() : granularity;
    if (Long.bitCount(g) != 1 || g < 1L << BitmapTables.MIN_GRANULARITY_BITS || g > 1L << BitmapTables.MAX_GRANULARITY_BITS) {
      throw error("Granularity must be power of 2 and at least 512");
    }
    if (find(name) != null) {
      throw error("Bitmap already exists: " + name);
    }
    if (bitmaps == null) {
      throw error("Can't make bitmap '" + name + "' persistent in '" + image + "': Cannot store dirty bitmaps in qcow2 v2 files");
    }
    if (name.getBytes(StandardCharsets.UTF_8).length > BitmapTables.MAX_NAME_BYTES) {
      throw error("Can't make bitmap '" + name + "' persistent in '" + image + "': Name length exceeds maximum ("
          + BitmapTables.MAX_NAME_BYTES + " characters)");
    }
    List<PersistentBitmaps.Slot> slots = bitmaps.slots();
    if (slots.size() >= BitmapTables.MAX_BITMAPS) {
      throw error("Can't make bitmap '" + name + "' persistent in '" + image
          + "': Maximum number of persistent bitmaps is already reached");
    }
    int bits = Long.numberOfTrailingZeros(g);
    long size = bitmaps.header().size();
    long memory = DirtyBitmap.bytesFor(size, bits);
    for (PersistentBitmaps.Slot s : slots) {
      memory += s.bits == null ? 0 : DirtyBitmap.bytesFor(size, s.entry.granularityBits());
    }
    PersistentBitmaps.checkMemory(memory, size);
    List<PersistentBitmaps.Slot> next = new ArrayList<>(slots);
    next.add(new PersistentBitmaps.Slot(null, new BitmapEntry(0, 0, BitmapEntry.FLAG_AUTO, bits, name),
        DirtyBitmap.empty(bits, size)));
    bitmaps.replace(next, null);
  }

  /** QEMU's {@code bdrv_get_default_bitmap_granularity}: the cluster size, within 4 KiB to 64 KiB. */
  private long defaultGranularity() {
    return Math.min(65536, Math.max(4096, image.header().clusterSize()));
  }

  private void remove() throws IOException {
    PersistentBitmaps.Slot s = existing(name);
    List<PersistentBitmaps.Slot> next = new ArrayList<>(bitmaps.slots());
    next.remove(s);
    bitmaps.replace(next, s);
  }

  private void flags(PersistentBitmaps.Slot s, boolean enabled) {
    int flags = enabled ? s.entry.flags() | BitmapEntry.FLAG_AUTO : s.entry.flags() & ~BitmapEntry.FLAG_AUTO;
    s.entry = s.entry.withFlags(flags);
  }

  private void merge(BitmapEdit a) throws IOException {
    PersistentBitmaps.Slot target = usable(name);
    DirtyBitmap source;
    if (a.sourceImage() == null) {
      source = usable(a.source()).bits;
    } else {
      Qcow2Image other = FilterDevice.find(a.sourceImage(), Qcow2Image.class);
      BitmapEntry e = other == null ? null
          : other.bitmaps().stream().filter(b -> b.name().equals(a.source())).findFirst().orElse(null);
      if (e == null) {
        throw error("Dirty bitmap '" + a.source() + "' not found");
      }
      if (e.inUse()) {
        throw inconsistent(a.source());
      }
      source = other.loadBitmap(e);
    }
    if (source.size() != target.bits.size()) {
      throw error("Bitmaps are of different sizes (destination size is " + target.bits.size() + ", source size is "
          + source.size() + ") and can't be merged");
    }
    target.bits.merge(source);
  }

  private PersistentBitmaps.Slot find(String n) {
    if (bitmaps == null) {
      return null;
    }
    return bitmaps.slots().stream().filter(s -> s.entry.name().equals(n)).findFirst().orElse(null);
  }

  private PersistentBitmaps.Slot existing(String n) throws BlockDeviceException {
    PersistentBitmaps.Slot s = find(n);
    if (s == null) {
      throw error("Dirty bitmap '" + n + "' not found");
    }
    return s;
  }

  /** A bitmap that operations other than remove may use: it exists and is consistent. */
  private PersistentBitmaps.Slot usable(String n) throws BlockDeviceException {
    PersistentBitmaps.Slot s = existing(n);
    if (s.bits == null) {
      throw inconsistent(n);
    }
    return s;
  }

  private static BlockDeviceException inconsistent(String n) {
    return error("Bitmap '" + n + "' is inconsistent and cannot be used");
  }

  private static BlockDeviceException error(String message) {
    return new BlockDeviceException(BlockError.EINVAL, message);
  }
}
