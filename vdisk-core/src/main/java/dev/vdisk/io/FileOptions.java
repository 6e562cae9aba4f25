package dev.vdisk.io;

/**
 * How {@link FileDevice} opens a host file.
 *
 * @param cache only {@link CacheMode#direct()} matters to the file; the mode is kept for messages and toString
 * @param readOnly open without write access
 * @param forceShare skip QEMU's image-lock conflict checks that protect a writer (qemu-img's {@code -U});
 *     only allowed with {@code readOnly}
 * @param locking take QEMU's image locks at all (off only for devices that cannot lock, like pipes)
 * @param user whose permissions the locks express, as QEMU's tools differ ({@link ImageUser#TOOL} by default)
 */
public record FileOptions(CacheMode cache, boolean readOnly, boolean forceShare, boolean locking, ImageUser user) {
  /** Refuses force-share with a writable open. */
  public FileOptions {
    if (forceShare && !readOnly) {
      throw new IllegalArgumentException("force-share (-U): requires a read-only open (expected: read-only)");
    }
  }

  /** Options for a tool's open (qemu-img's and qemu-io's permissions). */
  public FileOptions(CacheMode cache, boolean readOnly, boolean forceShare, boolean locking) {
    this(cache, readOnly, forceShare, locking, ImageUser.TOOL);
  }

  /** Options that take QEMU's locks without force-share. */
  public static FileOptions of(CacheMode cache, boolean readOnly) {
    return new FileOptions(cache, readOnly, false, true);
  }
}
