package dev.vdisk.ops.internal;

/**
 * The outcome of {@link Compare}, in qemu-img compare's terms.
 *
 * @param verdict what was found
 * @param offset where, for {@link Verdict#CONTENT_MISMATCH} and {@link Verdict#STATUS_MISMATCH}; else -1
 * @param sizeWarning the sizes differ and the common part was found equal, so qemu-img has printed
 *     {@code Warning: Image size mismatch!} before the verdict (non-strict mode only)
 */
public record CompareResult(Verdict verdict, long offset, boolean sizeWarning) {

  /** The four ways qemu-img compare ends without an error. */
  public enum Verdict {
    /** Same contents (exit 0). */
    IDENTICAL,
    /** The first differing sector starts at {@link #offset} (exit 1). */
    CONTENT_MISMATCH,
    /** Strict mode: the sizes differ (exit 1). */
    SIZE_MISMATCH,
    /** Strict mode: allocation status differs at {@link #offset} (exit 1). */
    STATUS_MISMATCH
  }

  /** True if the images read the same. */
  public boolean identical() {
    return verdict == Verdict.IDENTICAL;
  }

  /** qemu-img compare's line for this outcome (without the size warning). */
  public String message() {
    return switch (verdict) {
      case IDENTICAL -> "Images are identical.";
      case CONTENT_MISMATCH -> "Content mismatch at offset " + offset + "!";
      case SIZE_MISMATCH -> "Strict mode: Image size mismatch!";
      case STATUS_MISMATCH -> "Strict mode: Offset " + offset + " block status mismatch!";
    };
  }

  /** qemu-img's warning printed before the verdict when {@link #sizeWarning}. */
  public static final String SIZE_WARNING = "Warning: Image size mismatch!";
}
