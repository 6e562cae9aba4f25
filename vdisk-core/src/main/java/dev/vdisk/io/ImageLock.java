package dev.vdisk.io;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.linux.NativeFile;
import java.io.IOException;
import java.util.EnumSet;
import java.util.Set;

/**
 * QEMU's image locking, byte for byte as QEMU 7.2's file-posix driver does it, so that vdisk and QEMU
 * processes keep each other off an image in use.
 *
 * <p>Each permission i is a byte: {@code 100 + i} is read-locked while the permission is held, {@code 200
 * + i} while it is <em>not</em> shared with others. Locks are OFD locks on the given file's descriptor and
 * vanish when it is closed. As in QEMU, the bytes are taken first and checked second, so two processes
 * opening at once both see each other rather than neither.
 */
final class ImageLock {
  private static final int PERM_BASE = 100;
  private static final int SHARED_BASE = 200;

  /** QEMU's permission bits in bit order, with the names its messages use. */
  enum Perm {
    CONSISTENT_READ("consistent read"),
    WRITE("write"),
    WRITE_UNCHANGED("write unchanged"),
    RESIZE("resize");

    final String qemuName;

    Perm(String qemuName) {
      this.qemuName = qemuName;
    }
  }

  private ImageLock() {}

  /**
   * Takes the locks for an open as QEMU 7.2 computes them: the user's permissions ({@link FileOptions#user()}:
   * consistent read; write when writable; resize for a resizer; shared: everything but what the user withholds),
   * and, under a format that keeps metadata in the file ({@code metadata}: qcow2, and any file whose format is not
   * known yet), QEMU's {@code bdrv_default_perms_for_storage} on top: consistent read, write and resize held when
   * writable, and neither write nor resize shared. A raw image passes its user's permissions through, as QEMU's
   * raw format does. Force-share (read-only opens) shares everything.
   *
   * @throws BlockDeviceException {@link BlockError#EPERM} in QEMU's words if another open file description
   *     conflicts; the caller must then close {@code file} to drop the bytes already taken
   */
  static void acquire(NativeFile file, FileOptions options, boolean metadata) throws IOException {
    ImageUser user = options.user();
    EnumSet<Perm> held = EnumSet.of(Perm.CONSISTENT_READ);
    if (!options.readOnly()) {
      held.add(Perm.WRITE);
    }
    if (user.resizes || metadata && !options.readOnly()) {
      held.add(Perm.RESIZE);
    }
    EnumSet<Perm> shared = EnumSet.allOf(Perm.class);
    if (!options.forceShare()) {
      if (!user.sharesWrite || metadata) {
        shared.remove(Perm.WRITE);
      }
      if (!user.sharesResize || metadata) {
        shared.remove(Perm.RESIZE);
      }
    }
    Set<Perm> notShared = EnumSet.complementOf(shared);
    for (Perm p : held) {
      file.lockShared(PERM_BASE + p.ordinal());
    }
    for (Perm p : notShared) {
      file.lockShared(SHARED_BASE + p.ordinal());
    }
    // Others must share what we hold, and must not hold what we do not share.
    for (Perm p : held) {
      if (file.lockedByOthers(SHARED_BASE + p.ordinal())) {
        throw conflict(file, "Failed to get \"" + p.qemuName + "\" lock");
      }
    }
    for (Perm p : notShared) {
      if (file.lockedByOthers(PERM_BASE + p.ordinal())) {
        throw conflict(file, "Failed to get shared \"" + p.qemuName + "\" lock");
      }
    }
  }

  private static BlockDeviceException conflict(NativeFile file, String what) {
    return new BlockDeviceException(BlockError.EPERM,
        file.path() + ": " + what + ". Is another process using the image [" + file.path() + "]?");
  }
}
