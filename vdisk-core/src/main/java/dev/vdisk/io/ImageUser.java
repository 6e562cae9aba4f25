package dev.vdisk.io;

/**
 * Who opens an image, as QEMU's tools differ in what they take and what they let other processes do (their
 * BlockBackend's permissions): {@link ImageLock} turns this, the open's read-only switch and the format's rule into
 * QEMU's lock bytes. {@link FileDevice} also reads it for how an export's writers use their threads ({@link #EXPORT}).
 */
public enum ImageUser {
  /** qemu-img and qemu-io: read, and write when writable; every permission shared. */
  TOOL(false, true, true),
  /**
   * qemu-nbd's export: as a tool, but nobody else may resize the image while it is served. Its large page-cache writes
   * also go straight to the kernel, not one at a time (see {@link FileDevice}): each connection's thread that writes
   * also reads its client's socket.
   */
  EXPORT(false, true, false),
  /** qemu-img resize: also holds the resize permission. */
  RESIZER(true, true, true),
  /** qemu-img convert's source: nobody else may write or resize it during the copy. */
  COPY_SOURCE(false, false, false);

  final boolean resizes;
  final boolean sharesWrite;
  final boolean sharesResize;

  ImageUser(boolean resizes, boolean sharesWrite, boolean sharesResize) {
    this.resizes = resizes;
    this.sharesWrite = sharesWrite;
    this.sharesResize = sharesResize;
  }
}
