package dev.vdisk.io.linux;

import java.lang.foreign.MemorySegment;

/**
 * The io_uring system calls and the mmap/munmap its rings need, all through libc's {@code syscall(2)} (glibc 2.36 has
 * no io_uring wrappers). The syscall numbers 425 to 427 are the same on x86_64 and aarch64 (the unified table since Linux 5.1).
 * Every argument is passed as a 64-bit value, as {@code syscall()} reads its variadic arguments.
 *
 * <p>Each call returns the kernel's result or -1 with errno in {@code capture} (a {@link
 * LinuxNative.Calls#CAPTURE} segment the caller owns): the callers keep one per thread or per request, so the hot
 * path allocates nothing.
 */
final class UringSyscalls {
  static final long SYS_IO_URING_SETUP = 425;
  static final long SYS_IO_URING_ENTER = 426;
  static final long SYS_IO_URING_REGISTER = 427;

  static final int IORING_ENTER_GETEVENTS = 1;
  static final int IORING_REGISTER_FILES = 2;
  static final int IORING_UNREGISTER_FILES = 3;
  static final int IORING_REGISTER_PROBE = 8;

  static final int PROT_READ_WRITE = 0x1 | 0x2;
  static final int MAP_SHARED_POPULATE = 0x01 | 0x8000;
  static final MemorySegment MAP_FAILED = MemorySegment.ofAddress(-1L);

  private UringSyscalls() {}

  /** {@code io_uring_setup(entries, params)}: the ring's fd, or -1. */
  static int setup(MemorySegment capture, int entries, MemorySegment params) {
    return (int) syscall(capture, SYS_IO_URING_SETUP, entries, params.address(), 0, 0, 0, 0);
  }

  /** {@code io_uring_enter(fd, toSubmit, minComplete, flags, NULL, 0)}: SQEs consumed, or -1. */
  static int enter(MemorySegment capture, int fd, int toSubmit, int minComplete, int flags) {
    return (int) syscall(capture, SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, 0, 0);
  }

  /** {@code io_uring_register(fd, opcode, arg, nrArgs)}: 0 (or an opcode's result), or -1. */
  static int register(MemorySegment capture, int fd, int opcode, MemorySegment arg, int nrArgs) {
    return (int) syscall(capture, SYS_IO_URING_REGISTER, fd, opcode, arg.address(), nrArgs, 0, 0);
  }

  /**
   * {@code mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE, fd, offset)}, or {@link #MAP_FAILED}.
   * Through the one {@code syscall(2)} handle, as munmap: a downcall of its own would cost a run that sets up a ring
   * two more stubs generated at start (their classes are not in the AOT cache).
   */
  static MemorySegment mmap(MemorySegment capture, long length, int fd, long offset) {
    return MemorySegment.ofAddress(syscall(capture, LinuxNative.sys().mmap(), 0, length, PROT_READ_WRITE,
        MAP_SHARED_POPULATE, fd, offset));
  }

  static int munmap(MemorySegment capture, MemorySegment address, long length) {
    return (int) syscall(capture, LinuxNative.sys().munmap(), address.address(), length, 0, 0, 0, 0);
  }

  private static long syscall(MemorySegment capture, long nr, long a, long b, long c, long d, long e, long f) {
    try {
      return (long) LinuxNative.Syscall.HANDLE.invokeExact(capture, nr, a, b, c, d, e, f, 0L);
    } catch (Throwable t) {
      throw LinuxNative.linkageFailure(t);
    }
  }
}
