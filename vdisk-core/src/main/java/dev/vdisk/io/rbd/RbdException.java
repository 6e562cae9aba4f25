package dev.vdisk.io.rbd;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;

/**
 * A librados or librbd call that returned {@code -errno}, with the C library's text and the matching {@link BlockError}.
 * What is not a caller's mistake or a full pool is EIO, the timeouts (ETIMEDOUT) and a client the cluster has cut off
 * (ESHUTDOWN, librados' EBLOCKLISTED) included: to an NBD client or a guest, a lost cluster is an I/O error.
 */
final class RbdException extends BlockDeviceException {
  static final int EPERM = 1;
  static final int ENOENT = 2;
  static final int EIO = 5;
  static final int EACCES = 13;
  static final int EEXIST = 17;
  static final int EINVAL = 22;
  static final int ENOSPC = 28;
  static final int ERANGE = 34;
  static final int EROFS = 30;
  static final int EOPNOTSUPP = 95;
  static final int ETIMEDOUT = 110;
  static final int EDQUOT = 122;

  private final int errno;

  /**
   * @param rc the call's negative result
   * @param what the operation and its object, e.g. {@code "read rbd:rbd/disk at 4096"}
   */
  RbdException(long rc, String what) {
    super(errorOf((int) -rc), what + ": " + text((int) -rc));
    this.errno = (int) -rc;
  }

  /** The positive errno. */
  int errno() {
    return errno;
  }

  private static String text(int errno) {
    try {
      return RbdNative.get().describe(errno);
    } catch (BlockDeviceException e) {
      return "errno " + errno;
    }
  }

  private static BlockError errorOf(int errno) {
    return switch (errno) {
      case EPERM, EACCES, EROFS -> BlockError.EPERM;
      case ENOSPC, EDQUOT -> BlockError.ENOSPC;
      case EINVAL -> BlockError.EINVAL;
      case EOPNOTSUPP -> BlockError.ENOTSUP;
      default -> BlockError.EIO;
    };
  }
}
