package dev.vdisk.io.linux;

import java.io.IOException;

/**
 * A failed system call: the call, what it acted on, and the errno it returned.
 *
 * <p>The message reads {@code fallocate(PUNCH_HOLE) /tmp/x.raw offset 4096 length 8192: Operation not
 * supported (errno 95)}.
 */
public final class ErrnoException extends IOException {
  public static final int EPERM = 1;
  public static final int EINTR = 4;
  public static final int ENXIO = 6;
  public static final int EAGAIN = 11;
  public static final int EACCES = 13;
  public static final int EINVAL = 22;
  public static final int EFBIG = 27;
  public static final int ENOSPC = 28;
  public static final int EROFS = 30;
  public static final int ENOSYS = 38;
  public static final int EOPNOTSUPP = 95;
  public static final int EDQUOT = 122;

  private final String call;
  private final int errno;

  ErrnoException(String call, String target, int errno) {
    super(call + " " + target + ": " + LinuxNative.strerror(errno) + " (errno " + errno + ")");
    this.call = call;
    this.errno = errno;
  }

  /** The C library's text for {@code errno} ("No space left on device"), as the JDK puts in its messages. */
  public static String describe(int errno) {
    return LinuxNative.strerror(errno);
  }

  /** The call as named in the message, e.g. {@code fallocate(PUNCH_HOLE)}. */
  public String call() {
    return call;
  }

  public int errno() {
    return errno;
  }

  /** True if the file system or device lacks the operation (EOPNOTSUPP, or ENOSYS from an old kernel). */
  public boolean notSupported() {
    return errno == EOPNOTSUPP || errno == ENOSYS;
  }
}
