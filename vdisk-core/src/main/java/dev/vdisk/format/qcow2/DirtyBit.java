package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * The dirty bit (incompatible feature bit 0) of a writable image with {@code lazy_refcounts=on}, as QEMU keeps
 * it: set, durably, before the first metadata write that leaves the refcounts behind ({@code qcow2_mark_dirty}),
 * cleared only when everything is written at a clean close ({@code qcow2_mark_clean}). While it is set the
 * refcounts on disk may be lower than the references, so whoever opens the image for writing repairs it first.
 * Not thread-safe: the writer's metadata lock guards it.
 */
final class DirtyBit {
  private final BlockDevice file;
  private final long features;
  private boolean set;

  /** @param incompatibleFeatures the header's field as the image was opened (after any repair) */
  DirtyBit(BlockDevice file, long incompatibleFeatures) {
    this.file = file;
    this.features = incompatibleFeatures & ~Features.INCOMPAT_DIRTY;
    this.set = (incompatibleFeatures & Features.INCOMPAT_DIRTY) != 0;
  }

  boolean isSet() {
    return set;
  }

  /** Sets the bit, durably; everything written before it is flushed first, so it is consistent on its own. */
  void set() throws IOException {
    if (!set) {
      file.flush();
      write(features | Features.INCOMPAT_DIRTY);
      set = true;
    }
  }

  /** Clears the bit, durably: call once every refcount is written and flushed. */
  void clear() throws IOException {
    if (set) {
      write(features);
      set = false;
    }
  }

  private void write(long value) throws IOException {
    file.write(Qcow2Header.INCOMPATIBLE_FEATURES_FIELD, ByteBuffer.allocate(8).putLong(0, value), Set.of());
    file.flush();
  }
}
