package dev.vdisk.io.linux;

import java.io.IOException;

/** io_uring cannot be used here (no such system call, disabled by sysctl or seccomp, too old a kernel); the message says why. */
public final class UringUnavailableException extends IOException {
  UringUnavailableException(IOException cause) {
    super(cause.getMessage(), cause);
  }
}
