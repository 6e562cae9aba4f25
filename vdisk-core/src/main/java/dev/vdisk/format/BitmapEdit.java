package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import java.util.Objects;

/**
 * One of qemu-img bitmap's operations on one bitmap of an image, as {@link FormatImage#editBitmap} applies it.
 *
 * @param op the operation
 * @param granularity for {@link Op#ADD}: bytes per bit, a power of two of at least 512, or 0 for QEMU's default (the
 *     cluster size within 4 KiB to 64 KiB); 0 otherwise
 * @param source for {@link Op#MERGE}: the name of the bitmap merged in; null otherwise
 * @param sourceImage for {@link Op#MERGE}: the image (or a stack over it) that holds {@code source}, or null for the
 *     edited image itself
 */
public record BitmapEdit(Op op, long granularity, String source, BlockDevice sourceImage) {
  /** qemu-img bitmap's operations, in its option names' order. */
  public enum Op {
    /** {@code --add}: a new empty, enabled bitmap. */
    ADD,
    /** {@code --remove}: deletes the bitmap. */
    REMOVE,
    /** {@code --clear}: clears every bit. */
    CLEAR,
    /** {@code --enable}: the bitmap tracks writes. */
    ENABLE,
    /** {@code --disable}: the bitmap stops tracking writes. */
    DISABLE,
    /** {@code --merge}: sets every bit that is set in the source bitmap. */
    MERGE
  }

  /** Checks that the operation is given and that a merge names its source bitmap. */
  public BitmapEdit {
    Objects.requireNonNull(op, "op");
    if (op == Op.MERGE && source == null) {
      throw new IllegalArgumentException("merge: no source bitmap (expected: the name of the bitmap to merge in)");
    }
  }

  /** {@link Op#ADD} with {@code granularity} (0: QEMU's default). */
  public static BitmapEdit add(long granularity) {
    return new BitmapEdit(Op.ADD, granularity, null, null);
  }

  /** An operation without arguments: {@link Op#REMOVE}, {@link Op#CLEAR}, {@link Op#ENABLE}, {@link Op#DISABLE}. */
  public static BitmapEdit of(Op op) {
    return new BitmapEdit(op, 0, null, null);
  }

  /** {@link Op#MERGE} of bitmap {@code source} of {@code sourceImage} (null: of the edited image). */
  public static BitmapEdit merge(String source, BlockDevice sourceImage) {
    return new BitmapEdit(Op.MERGE, 0, source, sourceImage);
  }
}
