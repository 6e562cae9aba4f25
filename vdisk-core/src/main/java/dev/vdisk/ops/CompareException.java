package dev.vdisk.ops;

import java.io.IOException;

/**
 * {@link dev.vdisk.Vdisk#compare} failed (rather than found a difference). The message is qemu-img compare's: the
 * step, the offset of a failed read and the image's name.
 *
 * <p>{@link #sizeWarning()}: the failure came after qemu-img would have printed its size warning.
 */
public final class CompareException extends IOException {
  /** Which step failed; qemu-img compare exits 3 for {@link #STATUS} and 4 for {@link #READ}. */
  public enum Stage {
    /** Querying the allocation failed (qemu-img compare's exit status 3). */
    STATUS,
    /** Reading failed (qemu-img compare's exit status 4). */
    READ
  }

  /** Where the comparison failed. */
  private final Stage stage;
  /** The failure came after qemu-img would have printed its size warning. */
  private final boolean sizeWarning;

  /**
   * A failure at {@code stage}, with qemu-img compare's {@code message}.
   *
   * @param stage the step that failed
   * @param message qemu-img compare's message
   * @param sizeWarning the failure came after qemu-img would have printed its size warning
   * @param cause the failure of the device
   */
  public CompareException(Stage stage, String message, boolean sizeWarning, Throwable cause) {
    super(message, cause);
    this.stage = stage;
    this.sizeWarning = sizeWarning;
  }

  /** Where the comparison failed. */
  public Stage stage() {
    return stage;
  }

  /** True if the failure came after qemu-img would have printed its size warning. */
  public boolean sizeWarning() {
    return sizeWarning;
  }
}
