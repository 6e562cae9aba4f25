package dev.vdisk.io.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.channels.ClosedChannelException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A host file whose data moves through its own io_uring ({@link IoUring}): QEMU's {@code aio=io_uring}. Reads,
 * writes, fdatasync and (where the kernel has the opcode, Linux 5.6) fallocate are ring operations on the file
 * registered with the ring; any number of threads share the ring, and each waits only for its own completion. On an
 * O_DIRECT file a platform thread uses a ring of its own instead ({@link IoUring#openOwn}), at most {@value
 * #OWN_RINGS} per file (those of ended threads are closed to make room), closed with the file.
 *
 * <p>Direct buffers are handed to the kernel as they are; heap buffers are copied through native memory of the
 * request's size (the kernel needs a stable address). Registered buffers are not used: a request's buffer is the
 * caller's, so registering would mean copying into a registered one, which is what the JDK does already.
 *
 * <p>The ring size is {@value #DEFAULT_ENTRIES} entries unless the system property {@code vdisk.io_uring.entries}
 * says otherwise; a size the kernel refuses (0, or above 32768) makes {@link #open} fail as on a kernel without
 * io_uring, which is how the fall-back is tested.
 */
public final class RingFile implements FileIo {
  /** Requests in flight per file; more wait for a free entry. */
  public static final int DEFAULT_ENTRIES = 128;
  /** Platform threads with a ring of their own per file; more share the shared ring. */
  private static final int OWN_RINGS = 64;
  private static final int EINTR = 4;
  private static final int BUFFER_ALIGNMENT = 4096;

  private final Path path;
  private final int fd;
  private final IoUring ring;
  /** The platform threads' own rings ({@link IoUring#openOwn}), by thread; guarded by itself for adding and closing. */
  private final Map<Thread, IoUring> own = new ConcurrentHashMap<>();
  /**
   * Whether platform threads use rings of their own: only on an O_DIRECT file, and not after one could not be set up.
   * Measured (docs/performance.md, "Second pass"), a thread's own ring brought O_DIRECT requests closer to the
   * threads path than the shared ring, while buffered reads, which the kernel mostly completes inside the submitting
   * call, did better on the shared ring.
   */
  private volatile boolean ownRings;
  private final AtomicBoolean closed = new AtomicBoolean();

  private RingFile(Path path, int fd, IoUring ring, boolean direct) {
    this.ownRings = direct;
    this.path = path;
    this.fd = fd;
    this.ring = ring;
  }

  /**
   * Opens {@code path} (close-on-exec, O_DIRECT if {@code direct}) and sets up its ring.
   *
   * @throws UringUnavailableException if io_uring cannot be used here; the message says why
   * @throws IOException if the file cannot be opened
   */
  public static RingFile open(Path path, boolean writable, boolean direct) throws IOException {
    LinuxNative.requireSupported();
    int entries = Integer.getInteger("vdisk.io_uring.entries", DEFAULT_ENTRIES);
    int fd = LinuxNative.open(path, (writable ? LinuxNative.O_RDWR : LinuxNative.O_RDONLY)
        | (direct ? LinuxNative.oDirect() : 0));
    return IoUring.closingOnFailure(path, fd,
        () -> new RingFile(path, fd, IoUring.open(entries, fd, String.valueOf(path.getFileName())), direct));
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    if (dst.isReadOnly()) {
      throw new IllegalArgumentException("read: read-only buffer");
    }
    int n = dst.remaining();
    if (n == 0) {
      return 0;
    }
    int r;
    if (dst.isDirect()) {
      r = transfer(IoUring.IORING_OP_READ, "read", MemorySegment.ofBuffer(dst).address(), n, position);
      Reference.reachabilityFence(dst);
    } else {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment tmp = arena.allocate(n, BUFFER_ALIGNMENT);
        r = transfer(IoUring.IORING_OP_READ, "read", tmp.address(), n, position);
        MemorySegment.copy(tmp, 0, MemorySegment.ofBuffer(dst), 0, r);
      }
    }
    if (r == 0) {
      return -1;
    }
    dst.position(dst.position() + r);
    return r;
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    int n = src.remaining();
    if (n == 0) {
      return 0;
    }
    int r;
    if (src.isDirect()) {
      r = transfer(IoUring.IORING_OP_WRITE, "write", MemorySegment.ofBuffer(src).address(), n, position);
      Reference.reachabilityFence(src);
    } else {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment tmp = arena.allocate(n, BUFFER_ALIGNMENT);
        MemorySegment.copy(MemorySegment.ofBuffer(src), 0, tmp, 0, n);
        r = transfer(IoUring.IORING_OP_WRITE, "write", tmp.address(), n, position);
      }
    }
    src.position(src.position() + r);
    return r;
  }

  private int transfer(byte opcode, String call, long address, int length, long position) throws IOException {
    while (true) {
      int res = submit(opcode, address, length, position, 0);
      if (res >= 0) {
        return res;
      }
      if (res != -ErrnoException.EAGAIN && res != -EINTR) {
        throw new ErrnoException("io_uring " + call, path + " offset " + position + " length " + length, -res);
      }
    }
  }

  @Override
  public void fdatasync() throws IOException {
    int res = submit(IoUring.IORING_OP_FSYNC, 0, 0, 0, IoUring.IORING_FSYNC_DATASYNC);
    if (res < 0) {
      throw new ErrnoException("io_uring fdatasync", path.toString(), -res);
    }
  }

  /**
   * One operation on the ring that suits the calling thread. A platform thread on an O_DIRECT file waits in the
   * kernel anyway, so it submits on a ring of its own and waits there for its own completion: one system call, no
   * other thread woken, as a positional call would be. A virtual thread must not hold its carrier in the kernel, so
   * it submits on the shared ring and parks until the thread that reaps its completion unparks it; so do platform
   * threads on a buffered file.
   */
  private int submit(byte opcode, long addr, int len, long offset, int opFlags) throws IOException {
    Thread t = Thread.currentThread();
    IoUring mine = null;
    if (ownRings && !t.isVirtual()) {
      mine = own.get(t);
      if (mine == null) {
        mine = openOwn(t);
      }
    }
    return mine != null ? mine.submitAndWait(opcode, addr, len, offset, opFlags)
        : ring.submit(opcode, addr, len, offset, opFlags);
  }

  /**
   * Sets up {@code t}'s own ring, first closing those of threads that have ended once {@value #OWN_RINGS} exist;
   * returns null (the shared ring serves it) if that many live threads have one or the kernel refuses another ring.
   */
  private IoUring openOwn(Thread t) throws IOException {
    synchronized (own) {
      if (closed.get()) {
        throw new ClosedChannelException();
      }
      if (own.size() >= OWN_RINGS) {
        for (var it = own.entrySet().iterator(); it.hasNext(); ) {
          var e = it.next();
          if (!e.getKey().isAlive()) {
            it.remove();
            e.getValue().close();
          }
        }
        if (own.size() >= OWN_RINGS) {
          return null;
        }
      }
      try {
        IoUring mine = IoUring.openOwn(fd, String.valueOf(path.getFileName()));
        own.put(t, mine);
        return mine;
      } catch (IOException e) {
        ownRings = false; // a ring limit (ENOMEM, EMFILE) or an old kernel: the shared ring still works
        return null;
      }
    }
  }

  /** IORING_OP_FALLOCATE where the kernel has it, else the system call; errors as {@link NativeFile#fallocate}'s. */
  @Override
  public void fallocate(FallocateMode mode, long offset, long length) throws IOException {
    if (!ring.supports(IoUring.IORING_OP_FALLOCATE)) {
      LinuxNative.fallocate(fd, mode, offset, length, path);
      return;
    }
    // The SQE carries fallocate's length in addr and its mode in len.
    int res = submit(IoUring.IORING_OP_FALLOCATE, length, mode.flags, offset, 0);
    if (res < 0) {
      throw new ErrnoException("fallocate(" + mode.label + ")", path + " offset " + offset + " length " + length, -res);
    }
  }

  /** Waits for requests in flight, tears the ring down and closes the file. Idempotent. */
  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      synchronized (own) {
        for (IoUring mine : own.values()) {
          mine.close();
        }
        own.clear();
      }
      ring.close();
    } finally {
      LinuxNative.close(fd, path);
    }
  }

  @Override
  public String toString() {
    return "RingFile[" + path + ", " + ring + "]";
  }
}
