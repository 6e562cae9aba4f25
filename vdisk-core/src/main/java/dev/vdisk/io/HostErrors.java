package dev.vdisk.io;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.linux.ErrnoException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Path;

/** Turns host failures into {@link BlockDeviceException}s that name the operation, file and offset. */
final class HostErrors {
  /** The JDK reports channel errors as strerror text only; these are the texts worth telling apart. */
  private static final String ENOSPC_TEXT = ErrnoException.describe(ErrnoException.ENOSPC);
  private static final String EDQUOT_TEXT = ErrnoException.describe(ErrnoException.EDQUOT);

  private HostErrors() {}

  /** {@code e} as a BlockDeviceException for {@code op} on {@code [offset, offset + length)} of {@code path}. */
  static BlockDeviceException of(String op, Path path, long offset, long length, IOException e) {
    if (e instanceof BlockDeviceException b) {
      return b;
    }
    if (e instanceof ErrnoException x) {
      return new BlockDeviceException(errorOf(x.errno()), x.getMessage(), x); // it names the call already
    }
    String what = e instanceof ClosedChannelException ? "device is closed"
        : e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    BlockError error = e instanceof ClosedChannelException ? BlockError.ESHUTDOWN
        : what.equals(ENOSPC_TEXT) || what.equals(EDQUOT_TEXT) ? BlockError.ENOSPC
        : BlockError.EIO;
    return new BlockDeviceException(error, op + " " + path + " offset " + offset + " length " + length + ": " + what, e);
  }

  private static BlockError errorOf(int errno) {
    return switch (errno) {
      case ErrnoException.EPERM, ErrnoException.EACCES, ErrnoException.EROFS -> BlockError.EPERM;
      case ErrnoException.ENOSPC, ErrnoException.EDQUOT -> BlockError.ENOSPC;
      case ErrnoException.EINVAL -> BlockError.EINVAL;
      case ErrnoException.EOPNOTSUPP, ErrnoException.ENOSYS -> BlockError.ENOTSUP;
      default -> BlockError.EIO;
    };
  }
}
