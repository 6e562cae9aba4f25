package dev.vdisk.io.linux;

import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An owned file descriptor of a regular file or block device, for the calls the JDK does not offer:
 * fallocate, SEEK_DATA/SEEK_HOLE, block-device ioctls, fstat, ftruncate, OFD locks, and an fdatasync that an
 * interrupt neither cuts short nor turns into the descriptor's close.
 *
 * <p>Thread-safe. Calls hold a shared lock that {@link #close()} takes exclusively, so a descriptor is
 * never used after it is closed (the number could meanwhile belong to another file).
 */
public final class NativeFile implements Closeable {
  private final Path path;
  private final int fd;
  private final ReadWriteLock closing = new ReentrantReadWriteLock();
  private boolean closed;

  private NativeFile(Path path, int fd) {
    this.path = path;
    this.fd = fd;
  }

  /**
   * Starts linking the system calls on a daemon thread, so that the first {@link #open} finds them linked: for a
   * program's start, before it parses its arguments. A link that fails is reported by the first {@link #open}.
   */
  public static void linkAhead() {
    LinuxNative.linkAhead();
  }

  /**
   * Opens {@code path} read-only or read-write, close-on-exec.
   *
   * @throws IOException if the platform is unsupported or open(2) fails
   */
  public static NativeFile open(Path path, boolean writable) throws IOException {
    LinuxNative.requireSupported();
    return new NativeFile(path, LinuxNative.open(path, writable ? LinuxNative.O_RDWR : LinuxNative.O_RDONLY));
  }

  /**
   * Opens and closes {@code path} with O_DIRECT, read-only: the way to learn the errno of a refused direct
   * open (EINVAL: the file system does not support O_DIRECT), which the JDK reports only as text.
   */
  public static void tryDirectOpen(Path path) throws IOException {
    LinuxNative.requireSupported();
    LinuxNative.close(LinuxNative.open(path, LinuxNative.O_RDONLY | LinuxNative.oDirect()), path);
  }

  public Path path() {
    return path;
  }

  public FileStat stat() throws IOException {
    lock();
    try {
      return LinuxNative.fstat(fd, path);
    } finally {
      unlock();
    }
  }

  public void fallocate(FallocateMode mode, long offset, long length) throws IOException {
    lock();
    try {
      LinuxNative.fallocate(fd, mode, offset, length, path);
    } finally {
      unlock();
    }
  }

  /**
   * fdatasync(2) on this descriptor. Unlike {@link FileChannel#force}, an interrupt of the calling thread leaves it
   * running to its result and the descriptor open (a JDK channel closes itself for every thread when a thread blocked in
   * it is interrupted). It holds a virtual thread's carrier for its duration, as any downcall does.
   */
  public void fdatasync() throws IOException {
    lock();
    try {
      LinuxNative.fdatasync(fd, path);
    } finally {
      unlock();
    }
  }

  /**
   * A new JDK channel on this same open file, through {@code /proc/self/fd}: the file this descriptor has open even if
   * its path names another one now. For replacing a channel that an interrupt closed.
   */
  public FileChannel reopenChannel(Set<? extends OpenOption> options) throws IOException {
    lock();
    try {
      return FileChannel.open(Path.of("/proc/self/fd/" + fd), options);
    } finally {
      unlock();
    }
  }

  /**
   * Starts writing back the file's dirty pages from {@code offset} ({@code length} bytes, 0: to the end of the file)
   * without waiting: a later fdatasync then has less left to write. Makes nothing durable.
   */
  public void startWriteback(long offset, long length) throws IOException {
    lock();
    try {
      LinuxNative.startWriteback(fd, offset, length, path);
    } finally {
      unlock();
    }
  }

  /** Sets the file size (sparse when growing). */
  public void truncate(long size) throws IOException {
    lock();
    try {
      LinuxNative.ftruncate(fd, size, path);
    } finally {
      unlock();
    }
  }

  /** The first offset at or after {@code offset} that holds data, or -1 if there is none before EOF. */
  public long seekData(long offset) throws IOException {
    return seek(offset, LinuxNative.SEEK_DATA);
  }

  /**
   * The first offset at or after {@code offset} that starts a hole (EOF counts as one), or -1 if
   * {@code offset} is at or past EOF.
   */
  public long seekHole(long offset) throws IOException {
    return seek(offset, LinuxNative.SEEK_HOLE);
  }

  private long seek(long offset, int whence) throws IOException {
    lock();
    try {
      return LinuxNative.seek(fd, offset, whence, path);
    } finally {
      unlock();
    }
  }

  /**
   * Whether every page of {@code [offset, offset + length)} is in the page cache now (cachestat(2)), so that a
   * buffered read of it would not wait for the disk unless the pages are evicted meanwhile; false where the kernel
   * cannot say (before Linux 6.5, or a file the caller neither opened for writing nor owns). {@code length} > 0.
   */
  public boolean cached(long offset, long length) throws IOException {
    long page = LinuxNative.pageSize();
    long pages = (offset + length - 1) / page - offset / page + 1;
    lock();
    try {
      return LinuxNative.cachedPages(fd, offset, length, path) == pages;
    } finally {
      unlock();
    }
  }

  /** Block devices only: the size in bytes (BLKGETSIZE64). */
  public long blockDeviceSize() throws IOException {
    lock();
    try {
      return LinuxNative.blockDeviceSize(fd, path);
    } finally {
      unlock();
    }
  }

  /** Block devices only: the logical sector size (BLKSSZGET), the unit of direct I/O and of the range ioctls. */
  public int logicalSectorSize() throws IOException {
    lock();
    try {
      return LinuxNative.logicalSectorSize(fd, path);
    } finally {
      unlock();
    }
  }

  /** Block devices only: BLKDISCARD; offset and length must be multiples of the logical sector size. */
  public void discardBlocks(long offset, long length) throws IOException {
    blockRange(LinuxNative.BLKDISCARD, offset, length);
  }

  /** Block devices only: BLKZEROOUT; offset and length must be multiples of the logical sector size. */
  public void zeroOutBlocks(long offset, long length) throws IOException {
    blockRange(LinuxNative.BLKZEROOUT, offset, length);
  }

  private void blockRange(long request, long offset, long length) throws IOException {
    lock();
    try {
      LinuxNative.blockRange(fd, request, offset, length, path);
    } finally {
      unlock();
    }
  }

  /**
   * Takes a shared (read) OFD lock on byte {@code start}. Held until this file is closed; other read locks
   * coexist with it, and it shows up in others' {@link #lockedByOthers} probes.
   */
  public void lockShared(long start) throws IOException {
    lock();
    try {
      LinuxNative.setLock(fd, LinuxNative.F_RDLCK, start, path);
    } finally {
      unlock();
    }
  }

  /** True if another open file description (any process, this one included) holds any lock on byte {@code start}. */
  public boolean lockedByOthers(long start) throws IOException {
    lock();
    try {
      return LinuxNative.testLock(fd, LinuxNative.F_WRLCK, start, path) != LinuxNative.F_UNLCK;
    } finally {
      unlock();
    }
  }

  /** Closes the descriptor, which releases its OFD locks. Idempotent; waits for calls in progress. */
  @Override
  public void close() throws IOException {
    closing.writeLock().lock();
    try {
      if (!closed) {
        closed = true;
        LinuxNative.close(fd, path);
      }
    } finally {
      closing.writeLock().unlock();
    }
  }

  private void lock() throws IOException {
    closing.readLock().lock();
    if (closed) {
      closing.readLock().unlock();
      throw new IOException(path + ": native file is closed");
    }
  }

  private void unlock() {
    closing.readLock().unlock();
  }

  @Override
  public String toString() {
    return "NativeFile[" + path + ", fd=" + fd + "]";
  }
}
