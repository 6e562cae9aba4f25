package dev.vdisk.ops.internal;

import java.io.IOException;

/**
 * {@link Compare} failed (rather than found a difference). The message is qemu-img compare's.
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

  CompareException(Stage stage, String message, boolean sizeWarning, Throwable cause) {
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
