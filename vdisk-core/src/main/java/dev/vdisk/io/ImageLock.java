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
   * Takes the locks for an open as {@code options} describe: writable opens hold every permission and share
   * neither write nor resize; read-only opens hold consistent read and share neither write nor resize;
   * force-share read-only opens hold consistent read and share everything.
   *
   * @throws BlockDeviceException {@link BlockError#EPERM} in QEMU's words if another open file description
   *     conflicts; the caller must then close {@code file} to drop the bytes already taken
   */
  static void acquire(NativeFile file, FileOptions options) throws IOException {
    EnumSet<Perm> held = options.readOnly()
        ? EnumSet.of(Perm.CONSISTENT_READ)
        : EnumSet.allOf(Perm.class);
    EnumSet<Perm> shared = options.forceShare()
        ? EnumSet.allOf(Perm.class)
        : EnumSet.of(Perm.CONSISTENT_READ, Perm.WRITE_UNCHANGED);
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
