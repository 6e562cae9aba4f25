package dev.vdisk.io;

/**
 * How {@link FileDevice} opens a host file.
 *
 * @param cache only {@link CacheMode#direct()} matters to the file; the mode is kept for messages and toString
 * @param readOnly open without write access
 * @param forceShare skip QEMU's image-lock conflict checks that protect a writer (qemu-img's {@code -U});
 *     only allowed with {@code readOnly}
 * @param locking take QEMU's image locks at all (off only for devices that cannot lock, like pipes)
 * @param user whose permissions the locks express, as QEMU's tools differ ({@link ImageUser#TOOL} by default); an
 *     {@link ImageUser#EXPORT}'s large page-cache writes also go straight to the kernel (see {@link FileDevice})
 * @param aio how data reaches the file ({@link Aio#THREADS} by default, as QEMU)
 */
public record FileOptions(CacheMode cache, boolean readOnly, boolean forceShare, boolean locking, ImageUser user,
    Aio aio) {
  /**
   * Refuses force-share with a writable open, and {@code aio=native} without O_DIRECT (QEMU's message).
   *
   * @throws IllegalArgumentException for either
   */
  public FileOptions {
    if (forceShare && !readOnly) {
      throw new IllegalArgumentException("force-share (-U): requires a read-only open (expected: read-only)");
    }
    if (aio == Aio.NATIVE && !cache.direct()) {
      throw new IllegalArgumentException(
          "aio=native was specified, but it requires cache.direct=on, which was not specified.");
    }
  }

  /** Options with the default aio mode. */
  public FileOptions(CacheMode cache, boolean readOnly, boolean forceShare, boolean locking, ImageUser user) {
    this(cache, readOnly, forceShare, locking, user, Aio.THREADS);
  }

  /** Options for a tool's open (qemu-img's and qemu-io's permissions) with the default aio mode. */
  public FileOptions(CacheMode cache, boolean readOnly, boolean forceShare, boolean locking) {
    this(cache, readOnly, forceShare, locking, ImageUser.TOOL);
  }

  /** Options that take QEMU's locks without force-share. */
  public static FileOptions of(CacheMode cache, boolean readOnly) {
    return new FileOptions(cache, readOnly, false, true);
  }

  /** These options with another aio mode. */
  public FileOptions withAio(Aio mode) {
    return new FileOptions(cache, readOnly, forceShare, locking, user, mode);
  }
}
