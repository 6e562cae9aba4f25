package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The device a format driver returns from {@link ImageFormat#open}: an image's guest bytes, plus what the format
 * knows about them. Callers find it under filters with {@link dev.vdisk.block.FilterDevice#find}; they never
 * need the driver's concrete class.
 */
public interface FormatImage extends BlockDevice {
  /** The format this image was opened as. */
  ImageFormat format();

  /** The image's typed facts, as of now (a write may change them: the dirty flag, say). */
  FormatFacts facts() throws IOException;

  /**
   * Bytes one metadata lookup of the format answers (a qcow2 L2 table's coverage): block status runs of this image
   * end at multiples of it, as QEMU's do ({@link ChainWalker.Mode#ABOVE}); 0 where runs have no such boundary.
   */
  default long statusGranularity() {
    return 0;
  }

  /** True if the image can hold persistent dirty bitmaps (qemu-img measure then reports their size). */
  default boolean supportsBitmaps() {
    return false;
  }

  /** The image's persistent dirty bitmaps, in directory order, as QEMU loads them (none for a format without them). */
  default List<Bitmap> listBitmaps() throws IOException {
    return List.of();
  }

  /**
   * Applies {@code edit} to bitmap {@code name} of this image (open for writing), checked as QEMU's QMP commands
   * check it; the change is stored when the image is closed.
   *
   * @throws BlockDeviceException with QEMU's message where QEMU refuses the operation; ENOTSUP for a format without
   *     persistent bitmaps
   */
  default void editBitmap(String name, BitmapEdit edit) throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "bitmap '" + name + "': format '" + format().name()
        + "' has no persistent bitmaps (expected: a qcow2 image)");
  }

  /**
   * Bitmap {@code name} for export (qemu-nbd -B): the one kept in memory for a writable image (which its writes keep
   * marking, if it is enabled), else read from the image now.
   *
   * @throws BlockDeviceException EINVAL with qemu-nbd's messages: a bitmap that is not found, or in use
   *     (inconsistent)
   */
  default BitmapRuns bitmapRuns(String name) throws IOException {
    throw new BlockDeviceException(BlockError.EINVAL, "Bitmap '" + name + "' is not found");
  }

  /**
   * Internal snapshot {@code spec} of this image, read-only and without applying it, as {@code qemu-img convert -l}
   * reads it: {@code snapshot.id=ID}, {@code snapshot.name=NAME} (comma-separated, both must match), or an ID or name
   * (the ID first). The view has the image's current virtual size and shares its files; close it before the image.
   *
   * @throws SnapshotNotFoundException where no snapshot matches
   * @throws BlockDeviceException ENOTSUP for a format without internal snapshots
   */
  default FormatImage openSnapshot(String spec) throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "snapshot '" + spec + "': format '" + format().name()
        + "' has no internal snapshots (expected: a qcow2 image)");
  }

  /**
   * Host bytes the image's metadata references, read from its file now: header, tables, refcount structures and the
   * clusters they map (with the file's size and the guest's allocation, the space breakdown of {@code vdisk info
   * --breakdown}); empty for a format whose file holds nothing but the guest's bytes (raw).
   */
  default java.util.OptionalLong referencedBytes() throws IOException {
    return java.util.OptionalLong.empty();
  }

  /**
   * Drops every cluster of the image's active layer, so that it defines nothing and its backing image shows
   * through: QEMU's {@code bdrv_make_empty}, which qemu-img commit calls on the committed overlay. Durable on return.
   *
   * @throws BlockDeviceException ENOTSUP for a format that cannot (QEMU's error, which qemu-img commit ignores)
   */
  default void makeEmpty() throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "make empty: format '" + format().name()
        + "' cannot drop its clusters (expected: an image of a format with backing files, such as qcow2)");
  }

  /**
   * Grows the image to {@code newSize} with the grown part allocated as {@code mode} says ({@code qemu-img resize
   * --preallocation} for a format that allocates: off, metadata, falloc, full).
   *
   * @throws BlockDeviceException ENOTSUP for a format that does not allocate (raw: its file does the preallocating)
   */
  default void growPreallocated(long newSize, Preallocation mode) throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "resize: preallocation " + mode.spelling() + " on a "
        + format().name() + " image (expected: a format that allocates clusters, such as qcow2)");
  }

  /**
   * The backing image, if the image has one and it was opened; walk a chain by asking each layer's format image. An
   * image opened without its backing image still records its name ({@link FormatFacts#backingFile()}).
   */
  default Optional<Backing> backing() {
    return Optional.empty();
  }
}
