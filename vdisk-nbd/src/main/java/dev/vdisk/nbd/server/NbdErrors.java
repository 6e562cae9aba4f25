package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;

/** The NBD error value a client sees for a failure. */
final class NbdErrors {
  private NbdErrors() {}

  /** {@link BlockError}s map one to one; any other {@link IOException} is {@code EIO}. */
  static int errno(IOException e) {
    return switch (BlockDeviceException.errorOf(e)) {
      case EPERM -> NBD_EPERM;
      case EIO -> NBD_EIO;
      case ENOMEM -> NBD_ENOMEM;
      case EINVAL -> NBD_EINVAL;
      case ENOSPC -> NBD_ENOSPC;
      case EOVERFLOW -> NBD_EOVERFLOW;
      case ENOTSUP -> NBD_ENOTSUP;
      case ESHUTDOWN -> NBD_ESHUTDOWN;
    };
  }
}
