package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
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
   * The backing image, if the image has one and it was opened; walk a chain by asking each layer's format image. An
   * image opened without its backing image still records its name ({@link FormatFacts#backingFile()}).
   */
  default Optional<Backing> backing() {
    return Optional.empty();
  }
}
