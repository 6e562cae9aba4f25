package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The only place vdisk calls the operating system beyond the JDK: a handful of Linux system calls
 * through the FFM API, each capturing errno. All but dup2 and strerror go through one downcall, libc's
 * {@code syscall(2)} with the system call's number: the JDK generates and loads a stub and its method-handle
 * classes for each shape of downcall it links, tens of milliseconds of a short command's start-up per shape.
 *
 * <p>Every method acts on a raw file descriptor and takes the path only to name it in an {@link
 * ErrnoException}. {@link NativeFile} is the safe handle around these; nothing else should call them.
 * Supported: Linux on x86_64 and aarch64 (the only struct that differs between them is {@code struct
 * stat}, and {@code O_DIRECT} differs in value). Elsewhere {@link #requireSupported()} says so.
 */
final class LinuxNative {
  static final int O_RDONLY = 0;
  static final int O_RDWR = 2;
  static final int O_CLOEXEC = 02000000;

  static final int SEEK_DATA = 3;
  static final int SEEK_HOLE = 4;

  static final long BLKGETSIZE64 = 0x80081272L;
  static final long BLKSSZGET = 0x1268;
  static final long BLKDISCARD = 0x1277;
  static final long BLKZEROOUT = 0x127f;

  static final long AT_FDCWD = -100;

  static final int SYNC_FILE_RANGE_WRITE = 2;

  static final int F_OFD_GETLK = 36;
  static final int F_OFD_SETLK = 37;
  static final short F_RDLCK = 0;
  static final short F_WRLCK = 1;
  static final short F_UNLCK = 2;

  /**
   * cachestat(2) (Linux 6.5): the same number on x86_64 and aarch64, as for every system call added since the
   * architectures' tables were unified (424).
   */
  private static final long SYS_CACHESTAT = 451;
  /** AT_PAGESZ: the auxiliary vector's entry for the page size. */
  private static final long AT_PAGESZ = 6;

  /** The platform's layout facts, or null where vdisk does not run. */
  private static final Arch ARCH = Arch.current();

  private LinuxNative() {}

  /**
   * Per-architecture constants.
   *
   * @param oDirect the O_DIRECT open flag
   * @param statSize sizeof(struct stat)
   * @param modeOffset offset of st_mode (a 32-bit field)
   * @param sizeOffset offset of st_size
   * @param blocksOffset offset of st_blocks
   * @param sys the system calls' numbers
   */
  private record Arch(int oDirect, int statSize, int modeOffset, int sizeOffset, int blocksOffset, Sys sys) {
    static Arch current() {
      if (!System.getProperty("os.name", "").equals("Linux")) {
        return null;
      }
      return switch (System.getProperty("os.arch", "")) {
        case "amd64", "x86_64" -> new Arch(040000, 144, 24, 48, 64, new Sys(257, 3, 5, 8, 16, 72, 77, 285, 277, 206, 207, 209, 208, 9, 11, 28, 75, 290, 1, 0));
        // asm-generic struct stat: st_mode follows st_ino directly, st_nlink is 32 bits; asm-generic/unistd.h.
        case "aarch64" -> new Arch(0200000, 128, 16, 48, 64, new Sys(56, 57, 80, 62, 29, 25, 46, 47, 84, 0, 1, 2, 4, 222, 215, 233, 83, 19, 64, 63));
        default -> null;
      };
    }
  }

  /**
   * System call numbers (x86_64: asm/unistd_64.h; aarch64: asm-generic/unistd.h). The kernel's struct stat and
   * struct flock are glibc's on both, and glibc's open, fstat and fcntl are these calls with the same arguments.
   */
  record Sys(long openat, long close, long fstat, long lseek, long ioctl, long fcntl, long ftruncate,
      long fallocate, long syncFileRange, long ioSetup, long ioDestroy, long ioSubmit, long ioGetevents, long mmap,
      long munmap, long madvise, long fdatasync, long eventfd2, long write, long read) {}

  /** This platform's system call numbers (after {@link #requireSupported()}). */
  static Sys sys() {
    return ARCH.sys;
  }

  /**
   * Throws unless this platform is one vdisk's native layer knows.
   *
   * @throws IOException naming the platform found and the ones supported
   */
  static void requireSupported() throws IOException {
    if (ARCH == null) {
      throw new IOException("host I/O: " + System.getProperty("os.name") + "/" + System.getProperty("os.arch")
          + " is not supported (expected: Linux on x86_64 or aarch64)");
    }
    // Waits for a link started by linkAhead (class initialisation is the lock), or links here.
    if (!linked()) {
      throw new IOException("host I/O: cannot link the system calls: " + Syscall.FAILURE
          + " (expected: java --enable-native-access=ALL-UNNAMED)");
    }
  }

  /** Links the system call downcall if no thread has yet; true if it is linked. */
  private static boolean linked() {
    return Syscall.FAILURE == null;
  }

  /**
   * Starts linking the system call downcall on a daemon thread named {@code vdisk-link}, so that a command's main
   * thread parses its arguments meanwhile instead of waiting the tens of milliseconds the JDK takes to generate the
   * stub; the first call waits for it (see {@link #requireSupported()}). Does nothing on an unsupported platform.
   *
   * <p>In a convert between local files the link is still the critical path to the first write
   * (bench/convert-startup.sh; 2 cores under load, 2026-12-05): the main thread has parsed and opened the source
   * through the JDK 20-60 ms after main began and then waits up to 15-50 ms for the link's 45-120 ms, while C1 compiles
   * the link's interpreted code beside both (33-55 ms of C1's CPU before the first write). Nothing before the source's
   * OFD locks can go on without a system call, and nothing may be created before them. C1's invocation thresholds 5
   * times higher cut C1's share there to 9-10 ms and its whole run's by 50 ms, but the copy's own code then stays
   * interpreted longer: user CPU of the whole convert 328 -> 354 ms raw to qcow2, 258 -> 270 raw to raw, 292 -> 328
   * qcow2 to raw (perf record at 4 kHz, medians of 4 alternating runs); half the thresholds brought nothing either, so
   * the launchers keep C1's defaults.
   */
  static void linkAhead() {
    if (ARCH != null) {
      Thread.ofPlatform().daemon().name("vdisk-link").start(LinuxNative::linked);
    }
  }

  static int oDirect() {
    return ARCH.oDirect;
  }

  /**
   * What every downcall shares: the linker and the errno capture. A nested holder so that merely loading {@link
   * LinuxNative} on an unsupported platform does not fail: linking happens on first use, after {@link
   * #requireSupported()}. Only what {@link SharedDowncall}'s link needs, so that the link starts at once: libc's symbols
   * and errno's offset ({@link Libc}) cost a command's start 20-25 ms before it on a loaded machine (the C library's
   * lookup, the layout path's method handles), while the Ceph binding, which needs neither, waited for the link.
   */
  static final class Calls {
    static final Linker LINKER = Linker.nativeLinker();
    static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    static final Linker.Option ERRNO_OPTION = Linker.Option.captureCallState("errno");

    static MethodHandle handle(String name, FunctionDescriptor fd) {
      return LINKER.downcallHandle(Libc.symbol(name), fd, ERRNO_OPTION);
    }
  }

  /** libc's symbols and where errno lies in a capture: made on first use, after {@link Calls}. */
  static final class Libc {
    static final SymbolLookup LOOKUP = Calls.LINKER.defaultLookup();
    /** Where errno lies in {@link Calls#CAPTURE} (read with a plain get: a VarHandle costs start-up to build). */
    static final long ERRNO_OFFSET = Calls.CAPTURE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));

    static MemorySegment symbol(String name) {
      return LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc symbol not found: " + name));
    }
  }

  // One holder per downcall, linked on its first call (a command that never calls the OS through FFM links none).

  /**
   * {@code long syscall(long number, ...)} with six arguments, the one handle for every system call of this package
   * ({@link UringSyscalls} uses it too); arguments a call does not take are passed as 0 and ignored by the kernel.
   * Its descriptor is {@link SharedDowncall#SHAPE}, whose eighth {@code long} {@code syscall} never reads.
   *
   * <p>Linked as a function of named {@code long}s, not with {@link Linker.Option#firstVariadicArg}: the
   * arguments travel in the same registers either way on the two platforms supported (aarch64 Linux passes variadic
   * arguments as named ones; x86_64 differs only in %al, the count of vector registers used, which glibc's
   * {@code syscall}, written in assembly, never reads, and which a C one such as musl's, built by today's GCC or
   * Clang, reads only to decide whether to save the vector registers). The variadic link binds that count into the
   * handle, whose method-handle species cost the link a third of its work ({@code vdisk-link}'s instructions in
   * {@code info}, callgrind: 78-91M -> 54-57M).
   */
  static final class Syscall {
    /** The handle; null if the link failed. */
    static final MethodHandle HANDLE;
    /**
     * Why the link failed (the JVM refused native access, say), or null: kept rather than thrown, so that a failure
     * on the {@code vdisk-link} thread reaches the caller of {@link #requireSupported()} as an IOException.
     */
    static final Throwable FAILURE;

    static {
      MethodHandle handle = null;
      Throwable failure = null;
      try {
        // The shared shape (eight longs: the number, six arguments and one the kernel never sees), so that the Ceph
        // binding's link finds this one made.
        // Linked before libc's symbol is looked up (Calls.handle looks it up first): see Calls.
        handle = SharedDowncall.handle().bindTo(Libc.symbol("syscall"));
      } catch (RuntimeException | LinkageError e) {
        failure = e instanceof ExceptionInInitializerError init && init.getCause() != null ? init.getCause() : e;
      }
      HANDLE = handle;
      FAILURE = failure;
    }
  }

  private static final class Dup2 {
    static final MethodHandle HANDLE = Calls.handle("dup2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
  }

  private static final class Fcntl {
    /** struct flock (identical on x86_64 and aarch64): 32 bytes. */
    static final StructLayout FLOCK = MemoryLayout.structLayout(
        JAVA_SHORT.withName("l_type"), JAVA_SHORT.withName("l_whence"), MemoryLayout.paddingLayout(4),
        JAVA_LONG.withName("l_start"), JAVA_LONG.withName("l_len"), JAVA_INT.withName("l_pid"),
        MemoryLayout.paddingLayout(4));
  }

  private static final class StrerrorDesc {
    /** glibc's thread-safe, locale-independent strerror; absent on other C libraries. */
    static final Optional<MethodHandle> HANDLE = Libc.LOOKUP.find("strerrordesc_np")
        .map(a -> Calls.LINKER.downcallHandle(a, FunctionDescriptor.of(ADDRESS, JAVA_INT)));
  }

  /** open(2) with {@code flags | O_CLOEXEC}, so child processes never inherit the fd (and its OFD locks). */
  static int open(Path path, int flags) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      long fd = syscall(cap, ARCH.sys.openat, AT_FDCWD, arena.allocateFrom(path.toString()).address(), flags | O_CLOEXEC, 0);
      if (fd < 0) {
        throw new ErrnoException("open", path.toString(), errno(cap));
      }
      return (int) fd;
    }
  }

  static void close(int fd, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      if (syscall(cap, ARCH.sys.close, fd, 0, 0, 0) < 0) {
        throw new ErrnoException("close", path.toString(), errno(cap));
      }
    }
  }

  /**
   * {@code eventfd2(0, EFD_CLOEXEC)}: a counter that a read takes and resets, readable once another thread added to
   * it ({@link #eventfdAdd}). Blocking: an io_uring read of it waits for an addition, where a non-blocking one would
   * fail EAGAIN at once.
   */
  static int eventfd(String name) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      long fd = syscall(cap, ARCH.sys.eventfd2, 0, O_CLOEXEC, 0, 0);
      if (fd < 0) {
        throw new ErrnoException("eventfd", name, errno(cap));
      }
      return (int) fd;
    }
  }

  /**
   * Adds the 64-bit count at {@code count} (native memory, 8 bytes) to eventfd {@code fd}'s counter: a write(2) that
   * wakes its readers. Allocates nothing: the caller passes its errno {@code capture}.
   */
  static void eventfdAdd(int fd, MemorySegment count, MemorySegment capture, String name) throws ErrnoException {
    while (syscall(capture, ARCH.sys.write, fd, count.address(), Long.BYTES, 0) < 0) {
      if (errno(capture) != ErrnoException.EINTR) {
        throw new ErrnoException("write", "eventfd " + name, errno(capture));
      }
    }
  }

  /**
   * Reads eventfd {@code fd}'s counter into {@code count} (native memory, 8 bytes), which resets it: a read(2) that
   * waits for an addition if the counter is zero. Allocates nothing: the caller passes its errno {@code capture}.
   */
  static void eventfdTake(int fd, MemorySegment count, MemorySegment capture, String name) throws ErrnoException {
    while (syscall(capture, ARCH.sys.read, fd, count.address(), Long.BYTES, 0) < 0) {
      if (errno(capture) != ErrnoException.EINTR) {
        throw new ErrnoException("read", "eventfd " + name, errno(capture));
      }
    }
  }

  /** {@code dup2(from, to)}: {@code to} becomes a copy of {@code from} (closing what {@code to} was). */
  static void dup2(int from, int to) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      if ((int) Dup2.HANDLE.invokeExact(cap, from, to) < 0) {
        throw new ErrnoException("dup2", "fd " + from, errno(cap));
      }
    } catch (ErrnoException e) {
      throw e;
    } catch (Throwable t) {
      throw linkageFailure(t);
    }
  }

  static void fallocate(int fd, FallocateMode mode, long offset, long length, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      if (syscall(cap, ARCH.sys.fallocate, fd, mode.flags, offset, length) < 0) {
        throw new ErrnoException("fallocate(" + mode.label + ")", path + " offset " + offset + " length " + length,
            errno(cap));
      }
    }
  }

  /**
   * sync_file_range(2) with SYNC_FILE_RANGE_WRITE over {@code [offset, offset + length)} (length 0: to the end of the
   * file): starts writing the range's dirty pages back without waiting for them, and makes nothing durable.
   */
  static void startWriteback(int fd, long offset, long length, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      if (syscall(cap, ARCH.sys.syncFileRange, fd, offset, length, SYNC_FILE_RANGE_WRITE) < 0) {
        throw new ErrnoException("sync_file_range", path + " offset " + offset + " length " + length, errno(cap));
      }
    }
  }

  /**
   * fdatasync(2), again after EINTR (as the JDK's force does). A downcall, unlike {@link java.nio.channels.FileChannel
   * #force}, is not cut short by an interrupt of the calling thread, nor does one close the descriptor.
   */
  static void fdatasync(int fd, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      while (syscall(cap, ARCH.sys.fdatasync, fd, 0, 0, 0) < 0) {
        if (errno(cap) != ErrnoException.EINTR) {
          throw new ErrnoException("fdatasync", path.toString(), errno(cap));
        }
      }
    }
  }

  static void ftruncate(int fd, long size, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      if (syscall(cap, ARCH.sys.ftruncate, fd, size, 0, 0) < 0) {
        throw new ErrnoException("ftruncate", path + " size " + size, errno(cap));
      }
    }
  }

  /**
   * lseek(2) with SEEK_DATA or SEEK_HOLE.
   *
   * @return the offset found, or -1 for ENXIO (no data at or after {@code offset}, or {@code offset} at or
   *     past EOF)
   */
  static long seek(int fd, long offset, int whence, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      long r = syscall(cap, ARCH.sys.lseek, fd, offset, whence, 0);
      if (r >= 0) {
        return r;
      }
      int errno = errno(cap);
      if (errno == ErrnoException.ENXIO) {
        return -1;
      }
      throw new ErrnoException("lseek(" + (whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE") + ")",
          path + " offset " + offset, errno);
    }
  }

  static FileStat fstat(int fd, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      MemorySegment st = arena.allocate(ARCH.statSize, 8);
      if (syscall(cap, ARCH.sys.fstat, fd, st.address(), 0, 0) < 0) {
        throw new ErrnoException("fstat", path.toString(), errno(cap));
      }
      return new FileStat(st.get(JAVA_INT, ARCH.modeOffset), st.get(JAVA_LONG, ARCH.sizeOffset),
          st.get(JAVA_LONG, ARCH.blocksOffset));
    }
  }

  /**
   * cachestat(2) over {@code [offset, offset + length)}: how many of the pages the range touches are in the page
   * cache, or -1 where the kernel cannot say: older than 6.5 (ENOSYS), a file the caller may not ask about (EPERM:
   * neither open for writing nor the caller's), a file system without a page cache (EOPNOTSUPP).
   */
  static long cachedPages(int fd, long offset, long length, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(Calls.CAPTURE);
      MemorySegment range = arena.allocate(16, 8); // struct cachestat_range { __u64 off; __u64 len; }
      range.set(JAVA_LONG, 0, offset);
      range.set(JAVA_LONG, 8, length);
      MemorySegment stat = arena.allocate(40, 8); // struct cachestat: nr_cache first, then four more __u64
      if (syscall(cap, SYS_CACHESTAT, fd, range.address(), stat.address(), 0) < 0) {
        int errno = errno(cap);
        if (errno == ErrnoException.ENOSYS || errno == ErrnoException.EPERM || errno == ErrnoException.EOPNOTSUPP) {
          return -1;
        }
        throw new ErrnoException("cachestat", path + " offset " + offset + " length " + length, errno);
      }
      return stat.get(JAVA_LONG, 0);
    }
  }

  /** The kernel's page size, the unit of {@link #cachedPages}: AT_PAGESZ of this process's auxiliary vector. */
  static long pageSize() {
    return PageSize.BYTES;
  }

  /** Read once, on first use: {@code /proc/self/auxv} is pairs of native longs, (type, value), ending with type 0. */
  private static final class PageSize {
    static final long BYTES = read();

    private static long read() {
      try {
        ByteBuffer auxv = ByteBuffer.wrap(Files.readAllBytes(Path.of("/proc/self/auxv"))).order(ByteOrder.nativeOrder());
        while (auxv.remaining() >= 16) {
          long type = auxv.getLong();
          long value = auxv.getLong();
          if (type == AT_PAGESZ) {
            return value;
          }
        }
      } catch (IOException e) {
        // fall through: a process that cannot read its own auxv is a strange one; 4 KiB is the common size
      }
      return 4096;
    }
  }

  /** BLKGETSIZE64: a block device's size in bytes. */
  static long blockDeviceSize(int fd, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_LONG);
      ioctl(arena, fd, BLKGETSIZE64, out, "BLKGETSIZE64", path.toString());
      return out.get(JAVA_LONG, 0);
    }
  }

  /** BLKSSZGET: a block device's logical sector size. */
  static int logicalSectorSize(int fd, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_INT);
      ioctl(arena, fd, BLKSSZGET, out, "BLKSSZGET", path.toString());
      return out.get(JAVA_INT, 0);
    }
  }

  /** BLKDISCARD or BLKZEROOUT over {@code uint64_t[2] {offset, length}}. */
  static void blockRange(int fd, long request, long offset, long length, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment range = arena.allocate(JAVA_LONG, 2);
      range.setAtIndex(JAVA_LONG, 0, offset);
      range.setAtIndex(JAVA_LONG, 1, length);
      String name = request == BLKDISCARD ? "BLKDISCARD" : "BLKZEROOUT";
      ioctl(arena, fd, request, range, name, path + " offset " + offset + " length " + length);
    }
  }

  private static void ioctl(Arena arena, int fd, long request, MemorySegment arg, String name, String target)
      throws ErrnoException {
    MemorySegment cap = arena.allocate(Calls.CAPTURE);
    if (syscall(cap, ARCH.sys.ioctl, fd, request, arg.address(), 0) < 0) {
      throw new ErrnoException("ioctl(" + name + ")", target, errno(cap));
    }
  }

  /**
   * F_OFD_GETLK for one byte.
   *
   * @param type the lock we would take ({@link #F_RDLCK} or {@link #F_WRLCK})
   * @return {@link #F_UNLCK} if no other open file description holds a conflicting lock, else the type of
   *     the conflicting lock. Locks of this fd's own open file description never conflict.
   */
  static short testLock(int fd, short type, long start, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment fl = flock(arena, type, start);
      fcntl(arena, fd, F_OFD_GETLK, fl, "F_OFD_GETLK", path + " byte " + start);
      return fl.get(JAVA_SHORT, 0);
    }
  }

  /** F_OFD_SETLK for one byte: take ({@code F_RDLCK}, {@code F_WRLCK}) or drop ({@code F_UNLCK}) a lock. */
  static void setLock(int fd, short type, long start, Path path) throws ErrnoException {
    try (Arena arena = Arena.ofConfined()) {
      fcntl(arena, fd, F_OFD_SETLK, flock(arena, type, start), "F_OFD_SETLK", path + " byte " + start);
    }
  }

  private static MemorySegment flock(Arena arena, short type, long start) {
    MemorySegment fl = arena.allocate(Fcntl.FLOCK);
    fl.set(JAVA_SHORT, 0, type);
    fl.set(JAVA_SHORT, 2, (short) 0); // SEEK_SET
    fl.set(JAVA_LONG, 8, start);
    fl.set(JAVA_LONG, 16, 1); // l_len: one byte
    return fl; // l_pid stays 0, as OFD locks require
  }

  private static void fcntl(Arena arena, int fd, int cmd, MemorySegment arg, String name, String target)
      throws ErrnoException {
    MemorySegment cap = arena.allocate(Calls.CAPTURE);
    if (syscall(cap, ARCH.sys.fcntl, fd, cmd, arg.address(), 0) < 0) {
      throw new ErrnoException("fcntl(" + name + ")", target, errno(cap));
    }
  }

  /** The C library's description of {@code errno}, e.g. "Operation not supported". */
  static String strerror(int errno) {
    String fallback = "Unknown error " + errno;
    if (ARCH == null || StrerrorDesc.HANDLE.isEmpty()) {
      return fallback;
    }
    try {
      MemorySegment s = (MemorySegment) StrerrorDesc.HANDLE.get().invokeExact(errno);
      return s.equals(MemorySegment.NULL) ? fallback : s.reinterpret(Long.MAX_VALUE).getString(0);
    } catch (Throwable t) {
      throw linkageFailure(t);
    }
  }

  /** A system call of up to four arguments; its result, or -1 with errno in {@code capture}. */
  static long syscall(MemorySegment capture, long nr, long a, long b, long c, long d) {
    return syscall6(capture, nr, a, b, c, d, 0L, 0L);
  }

  /** A system call of up to six arguments; its result, or -1 with errno in {@code capture}. */
  static long syscall6(MemorySegment capture, long nr, long a, long b, long c, long d, long e, long f) {
    try {
      return (long) Syscall.HANDLE.invokeExact(capture, nr, a, b, c, d, e, f, 0L);
    } catch (Throwable t) {
      throw linkageFailure(t);
    }
  }

  static int errno(MemorySegment capture) {
    return capture.get(JAVA_INT, Libc.ERRNO_OFFSET);
  }

  /** A downcall cannot throw; anything caught here is a linkage or platform defect, not an I/O error. */
  static IllegalStateException linkageFailure(Throwable t) {
    if (t instanceof Error e) {
      throw e;
    }
    return new IllegalStateException("native call failed: " + t, t);
  }
}
