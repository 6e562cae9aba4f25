package dev.vdisk.ops;

import java.io.IOException;

/**
 * {@link Compare} failed (rather than found a difference). The message is qemu-img compare's.
 *
 * <p>{@link #sizeWarning()}: the failure came after qemu-img would have printed its size warning.
 */
public final class CompareException extends IOException {
  /** Which step failed; qemu-img compare exits 3 for {@link #STATUS} and 4 for {@link #READ}. */
  public enum Stage {
    STATUS,
    READ
  }

  private final Stage stage;
  private final boolean sizeWarning;

  CompareException(Stage stage, String message, boolean sizeWarning, Throwable cause) {
    super(message, cause);
    this.stage = stage;
    this.sizeWarning = sizeWarning;
  }

  public Stage stage() {
    return stage;
  }

  public boolean sizeWarning() {
    return sizeWarning;
  }
}
