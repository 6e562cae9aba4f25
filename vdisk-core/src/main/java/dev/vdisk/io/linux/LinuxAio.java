package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * Linux AIO on one O_DIRECT file descriptor of its own: QEMU's {@code aio=native}. A context of {@link #depth()}
 * request slots ({@code io_setup}); reads and writes are prepared in slots and handed to the kernel together with one
 * {@code io_submit}. Completions are read from the context's event ring, which the kernel maps into the process (the
 * context id is its address), without a system call while events are there, as libaio's and QEMU's peek do; {@code
 * io_getevents} only waits for those not yet arrived. The system calls go through {@link LinuxNative}'s one {@code
 * syscall(2)} downcall.
 *
 * <p>Not thread-safe: one thread prepares, submits and reaps (as QEMU's AioContext does). The caller keeps every
 * buffer it handed in alive and untouched until its slot completes; slots are the caller's to number, from 0 to
 * {@code depth() - 1}, and a slot is reused only after its completion was reaped.
 *
 * <p>{@link #wake}: the context holds a poll of an eventfd of this queue's ({@code IOCB_CMD_POLL}, Linux 4.18;
 * {@code aio_data} {@link #depth()}, not a slot); another thread's {@code wake} adds to the eventfd, the poll
 * completes and its event ends the owner's {@code io_getevents} as a request's would. The owner then reads the
 * eventfd (resetting it) and submits the poll again, and the reap returns, with fewer completions than asked for if
 * need be. Where the kernel refuses the poll (or it fails) the queue is not, or no longer, {@link #wakeable}.
 */
public final class LinuxAio implements AsyncIo {
  /** {@code IOCB_CMD_PREAD} and {@code IOCB_CMD_PWRITE} (linux/aio_abi.h). */
  private static final short IOCB_CMD_PREAD = 0;
  private static final short IOCB_CMD_PWRITE = 1;
  /** {@code IOCB_CMD_POLL} (Linux 4.18): completes once the descriptor has the events in {@code aio_buf}. */
  private static final short IOCB_CMD_POLL = 5;
  private static final long POLLIN = 1;
  /** sizeof(struct iocb) and sizeof(struct io_event), the same on x86_64 and aarch64 (little-endian). */
  private static final int IOCB_SIZE = 64;
  private static final int EVENT_SIZE = 32;
  private static final int EINTR = 4;
  /**
   * The mapped {@code struct aio_ring} (fs/aio.c): id, nr, head, tail, magic, compat_features, incompat_features,
   * header_length as 32-bit fields, then {@code nr} events. head and tail are indexes below nr; the kernel publishes
   * events before their tail, and reads head (written by whoever consumes) to know which slots are free again.
   */
  private static final long RING_NR = 4;
  private static final long RING_HEAD = 8;
  private static final long RING_TAIL = 12;
  private static final long RING_MAGIC = 16;
  private static final long RING_INCOMPAT = 24;
  private static final long RING_HEADER_LENGTH = 28;
  private static final int AIO_RING_MAGIC = 0xa10a10a1;
  private static final int RING_HEADER = 32;
  /** Aligned 32-bit access with acquire/release modes on the ring: (segment, offset). */
  private static final VarHandle U32 = JAVA_INT.varHandle();

  private final Path path;
  private final int fd;
  private final int depth;
  private final long context;
  private final Arena arena = Arena.ofShared();
  private final MemorySegment capture;
  private final MemorySegment iocbs;
  /** The iocb pointers of the prepared slots not yet taken by the kernel, in preparation order. */
  private final MemorySegment pending;
  private final MemorySegment events;
  /** The kernel's event ring, or null where the mapping is not the layout this class knows (then only io_getevents). */
  private final MemorySegment ring;
  /** The ring's number of event slots. */
  private final int ringSize;
  /** Completions read from the ring without a system call, for tests. */
  private long peeked;
  private int pendingCount;
  private boolean closed;
  /** The eventfd {@link #wake} adds to; null where the kernel refused the poll on it (then not wakeable). */
  private volatile WakeFd wakeFd;
  /** The poll's iocb pointer, for its own io_submit. */
  private final MemorySegment pollPointer;
  /** Set when the poll completed, until {@link #woken} takes it. */
  private boolean woken;

  private LinuxAio(Path path, int fd, int depth, long context) {
    this.path = path;
    this.fd = fd;
    this.depth = depth;
    this.context = context;
    this.capture = arena.allocate(LinuxNative.Calls.CAPTURE);
    this.iocbs = arena.allocate((long) IOCB_SIZE * (depth + 1), 64);
    this.pollPointer = arena.allocate(JAVA_LONG);
    this.pending = arena.allocate(JAVA_LONG, depth);
    this.events = arena.allocate((long) EVENT_SIZE * depth, 8);
    MemorySegment header = MemorySegment.ofAddress(context).reinterpret(RING_HEADER);
    int nr = header.get(JAVA_INT, RING_NR);
    // Layout checks as libaio's: an unknown magic or an incompatible feature means the ring is not to be read here.
    boolean known = header.get(JAVA_INT, RING_MAGIC) == AIO_RING_MAGIC && header.get(JAVA_INT, RING_INCOMPAT) == 0
        && header.get(JAVA_INT, RING_HEADER_LENGTH) == RING_HEADER && nr > 0;
    this.ring = known ? header.reinterpret(RING_HEADER + (long) nr * EVENT_SIZE) : null;
    this.ringSize = known ? nr : 0;
  }

  /**
   * Opens {@code path} again with O_DIRECT (close-on-exec) and sets up a context for {@code depth} requests.
   *
   * @throws ErrnoException from open, or from io_setup where Linux AIO is refused (ENOSYS without CONFIG_AIO, EAGAIN
   *     beyond {@code fs.aio-max-nr}, EPERM from seccomp): the caller falls back to synchronous I/O
   */
  public static LinuxAio open(Path path, boolean writable, int depth) throws IOException {
    LinuxNative.requireSupported();
    if (depth < 1) {
      throw new IllegalArgumentException("depth: " + depth + " (expected: at least 1)");
    }
    int fd = LinuxNative.open(path, (writable ? LinuxNative.O_RDWR : LinuxNative.O_RDONLY) | LinuxNative.oDirect());
    try (Arena setup = Arena.ofConfined()) {
      MemorySegment cap = setup.allocate(LinuxNative.Calls.CAPTURE);
      MemorySegment ctx = setup.allocate(JAVA_LONG); // io_setup requires *ctxp == 0
      if (LinuxNative.syscall(cap, LinuxNative.sys().ioSetup(), depth + 1, ctx.address(), 0, 0) < 0) {
        throw new ErrnoException("io_setup", path + " depth " + depth, LinuxNative.errno(cap));
      }
      LinuxAio aio = new LinuxAio(path, fd, depth, ctx.get(JAVA_LONG, 0));
      aio.armWake();
      return aio;
    } catch (IOException | RuntimeException e) {
      try {
        LinuxNative.close(fd, path);
      } catch (ErrnoException x) {
        e.addSuppressed(x);
      }
      throw e;
    }
  }

  /**
   * Sets up the eventfd and submits the poll on it; where the kernel refuses either, the queue is not wakeable (and
   * works on as before).
   */
  private void armWake() {
    WakeFd w;
    try {
      w = new WakeFd(String.valueOf(path.getFileName()));
    } catch (ErrnoException e) {
      return;
    }
    long at = (long) depth * IOCB_SIZE;
    iocbs.set(JAVA_LONG, at, depth); // aio_data: not a slot
    iocbs.set(JAVA_LONG, at + 8, 0L);
    iocbs.set(JAVA_SHORT, at + 16, IOCB_CMD_POLL);
    iocbs.set(JAVA_SHORT, at + 18, (short) 0);
    iocbs.set(JAVA_INT, at + 20, w.fd());
    iocbs.set(JAVA_LONG, at + 24, POLLIN); // aio_buf: the events polled for
    iocbs.set(JAVA_LONG, at + 32, 0L);
    iocbs.set(JAVA_LONG, at + 40, 0L);
    iocbs.set(JAVA_LONG, at + 48, 0L);
    iocbs.set(JAVA_LONG, at + 56, 0L);
    pollPointer.set(JAVA_LONG, 0, iocbs.address() + at);
    wakeFd = w;
    if (!submitPoll()) {
      wakeFd = null;
      try {
        w.close(); // a kernel before 4.18 (EINVAL): this queue waits for its requests only
      } catch (ErrnoException e) {
        // nothing of the queue's depends on it
      }
    }
  }

  /** Submits the poll on the eventfd with an io_submit of its own (never among the requests); false if refused. */
  private boolean submitPoll() {
    long n;
    do {
      n = LinuxNative.syscall(capture, LinuxNative.sys().ioSubmit(), context, 1, pollPointer.address(), 0);
    } while (n < 0 && LinuxNative.errno(capture) == EINTR);
    return n == 1;
  }

  /**
   * Hands one event to {@code done}, or if it is the poll's, takes the eventfd's count, submits the poll again and
   * marks the queue {@link #woken}; 1 for a request's event, 0 for the poll's.
   */
  private int deliver(int slot, long result, Completion done) throws IOException {
    if (slot != depth) {
      done.completed(slot, result);
      return 1;
    }
    woken = true;
    boolean again;
    try {
      again = result >= 0 && takeWake();
    } catch (ErrnoException e) {
      again = false;
    }
    if (!again) {
      WakeFd w = wakeFd;
      wakeFd = null; // no longer wakeable (the owner's waits end with their completions): a waker does nothing
      w.close();
    }
    return 0;
  }

  /** Resets the eventfd and submits the poll again; false if the kernel refuses the poll. */
  private boolean takeWake() throws ErrnoException {
    wakeFd.take();
    return submitPoll();
  }

  @Override
  public boolean wakeable() {
    return wakeFd != null;
  }

  /**
   * Ends the owner's wait in a reap now, or if it is not waiting, its next one. Thread-safe; a no-op once closed.
   *
   * @throws ErrnoException if the eventfd cannot be written (the wait then ends with its next completion)
   */
  @Override
  public void wake() throws ErrnoException {
    WakeFd w = wakeFd;
    if (w != null) {
      w.add();
    }
  }

  @Override
  public boolean woken() {
    boolean w = woken;
    woken = false;
    return w;
  }

  /** The number of slots: the most requests in flight at once. */
  public int depth() {
    return depth;
  }

  /**
   * Prepares a read ({@code write} false) or write of {@code length} bytes at {@code offset} to or from native memory
   * at {@code address} in {@code slot}; nothing reaches the kernel before {@link #submit}. O_DIRECT's rules apply
   * (offset, length and address aligned to the file's block size): the kernel reports EINVAL in the slot's
   * completion otherwise.
   */
  public void prepare(int slot, boolean write, long address, int length, long offset) {
    // Every field of the 64-byte iocb is set here, in place in the slots' segment: no slice, no fill, per request.
    long at = (long) slot * IOCB_SIZE;
    iocbs.set(JAVA_LONG, at, slot); // aio_data: comes back in the event
    iocbs.set(JAVA_LONG, at + 8, 0L); // aio_key, aio_rw_flags
    iocbs.set(JAVA_SHORT, at + 16, write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD); // aio_lio_opcode
    iocbs.set(JAVA_SHORT, at + 18, (short) 0); // aio_reqprio
    iocbs.set(JAVA_INT, at + 20, fd); // aio_fildes
    iocbs.set(JAVA_LONG, at + 24, address); // aio_buf
    iocbs.set(JAVA_LONG, at + 32, length); // aio_nbytes
    iocbs.set(JAVA_LONG, at + 40, offset); // aio_offset
    iocbs.set(JAVA_LONG, at + 48, 0L); // aio_reserved2
    iocbs.set(JAVA_LONG, at + 56, 0L); // aio_flags, aio_resfd
    pending.setAtIndex(JAVA_LONG, pendingCount++, iocbs.address() + at);
  }

  /**
   * Hands every prepared request to the kernel with io_submit. The kernel may take fewer (EAGAIN: its queue is
   * full); those left stay prepared for the next call. A request the kernel refuses at submission (EINVAL for an
   * O_DIRECT request it cannot take, EBADF for a write on a read-only descriptor) completes at once through {@code
   * refused} with the negated errno, and the requests after it are submitted.
   *
   * @return the number the kernel took
   */
  public int submit(Completion refused) throws IOException {
    int taken = 0;
    while (pendingCount > 0) {
      long n = LinuxNative.syscall(capture, LinuxNative.sys().ioSubmit(), context, pendingCount, pending.address(), 0);
      if (n < 0) {
        int errno = LinuxNative.errno(capture);
        if (errno == EINTR) {
          continue;
        }
        if (errno == ErrnoException.EAGAIN) {
          break;
        }
        // The first request was refused (io_submit reports an error only when it took none).
        int slot = (int) ((pending.get(JAVA_LONG, 0) - iocbs.address()) / IOCB_SIZE);
        drop(1);
        refused.completed(slot, -errno);
        continue;
      }
      taken += (int) n;
      drop((int) n);
    }
    return taken;
  }

  /** Removes the first {@code n} pending iocb pointers. */
  private void drop(int n) {
    MemorySegment.copy(pending, (long) n * 8, pending, 0, (long) (pendingCount - n) * 8);
    pendingCount -= n;
  }

  /** Requests prepared but not yet taken by the kernel. */
  public int unsubmitted() {
    return pendingCount;
  }

  @Override
  public String call() {
    return "io_submit";
  }

  /**
   * Waits (io_getevents) until at least {@code min} submitted requests have completed and hands each completion
   * reaped to {@code done}: up to {@link #depth()} in one system call.
   *
   * @return the number reaped
   */
  public int reap(int min, Completion done) throws IOException {
    int peekedNow = poll(done);
    if (peekedNow >= min || woken) {
      return peekedNow;
    }
    long n;
    do {
      n = LinuxNative.syscall6(capture, LinuxNative.sys().ioGetevents(), context, min - peekedNow, depth,
          events.address(), 0, 0);
    } while (n < 0 && LinuxNative.errno(capture) == EINTR);
    if (n < 0) {
      throw new ErrnoException("io_getevents", path.toString(), LinuxNative.errno(capture));
    }
    int requests = 0;
    for (int i = 0; i < n; i++) {
      long at = (long) i * EVENT_SIZE;
      requests += deliver((int) events.get(JAVA_LONG, at), events.get(JAVA_LONG, at + 16), done);
    }
    return peekedNow + requests;
  }

  /**
   * Hands every completion that has arrived to {@code done}, read from the mapped ring without a system call; never
   * waits. Each completion is handed over once, by this or by {@link #reap}.
   *
   * @return the number handed over (0 where the ring cannot be read here, see {@link #ringMapped})
   */
  public int poll(Completion done) throws IOException {
    if (ring == null) {
      return 0;
    }
    int n = 0;
    int head = (int) U32.getAcquire(ring, RING_HEAD);
    // Acquire: the events before tail are complete once tail is seen (the kernel writes them, then the tail).
    int tail;
    while (head != (tail = (int) U32.getAcquire(ring, RING_TAIL))) {
      // At most up to the ring's end per pass; the head is published before the completions run, so that a
      // completion that submits again (io_submit reads the head to count free slots) sees them consumed.
      // (No more than the slots: a completion per slot in flight, so this bound only guards the copy.)
      int end = Math.min(tail > head ? tail : ringSize, head + depth);
      int count = end - head;
      for (int i = head; i < end; i++) {
        long at = RING_HEADER + (long) i * EVENT_SIZE;
        events.set(JAVA_LONG, (long) (i - head) * EVENT_SIZE, ring.get(JAVA_LONG, at));
        events.set(JAVA_LONG, (long) (i - head) * EVENT_SIZE + 16, ring.get(JAVA_LONG, at + 16));
      }
      head = end == ringSize ? 0 : end;
      // Release: the kernel may reuse these slots only after they were read.
      U32.setRelease(ring, RING_HEAD, head);
      peeked += count;
      for (int i = 0; i < count; i++) {
        long at = (long) i * EVENT_SIZE;
        n += deliver((int) events.get(JAVA_LONG, at), events.get(JAVA_LONG, at + 16), done);
      }
    }
    return n;
  }

  /** Whether completions are read from the mapped ring ({@link #poll}); false where its layout is not the known one. */
  public boolean ringMapped() {
    return ring != null;
  }

  /** The completions read from the ring without a system call so far. */
  long peeked() {
    return peeked;
  }

  /** The ring's number of event slots (0 where it is not read). */
  int ringSize() {
    return ringSize;
  }

  /**
   * Destroys the context (io_destroy waits for the requests in flight and cancels the poll) and closes the
   * descriptors. Idempotent.
   */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (LinuxNative.syscall(capture, LinuxNative.sys().ioDestroy(), context, 0, 0, 0) < 0) {
        throw new ErrnoException("io_destroy", path.toString(), LinuxNative.errno(capture));
      }
    } finally {
      try {
        if (wakeFd != null) {
          wakeFd.close();
        }
      } finally {
        try {
          LinuxNative.close(fd, path);
        } finally {
          arena.close();
        }
      }
    }
  }

  @Override
  public String toString() {
    return "LinuxAio[" + path + ", depth " + depth + "]";
  }
}
