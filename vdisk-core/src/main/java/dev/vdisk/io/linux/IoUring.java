package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Path;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One io_uring instance on the kernel interface: the submission and completion rings mmapped from the ring's fd,
 * shared by any number of threads (virtual threads included), for one registered file.
 *
 * <p><b>Submitting</b> takes no lock and never waits for another thread: a request claims a slot of {@link #slots}
 * (its {@code user_data}), draws a ticket that names its submission-queue entry, fills that entry and marks it ready;
 * then it moves the SQ tail (by compare-and-set) over every ready entry that follows it, its own and those of
 * requests with smaller tickets that finished filling meanwhile, and calls {@code io_uring_enter} until the kernel
 * has consumed everything published. A request whose entry waits behind a slower one's is published and submitted
 * by that slower request. (An earlier version waited for its predecessors by spinning with {@link Thread#yield}:
 * virtual threads starved each other that way, the predecessor never getting a carrier back.) At most {@code entries}
 * requests are in flight (a {@link Semaphore}), so an entry is never reused before the kernel has consumed it and
 * the completion queue (twice as large) never overflows: memory is bounded, excess callers wait for a permit.
 *
 * <p><b>Completions</b> wake exactly their request: whoever drains the completion queue (under {@link #reaping})
 * reads each CQE's {@code user_data}, stores the result in that slot's request and unparks its thread. The
 * submitting thread drains it itself right after its {@code io_uring_enter} when nobody else is (a page-cache read
 * usually completes inside that call, so no other thread is involved); otherwise one reaper thread per ring, blocked
 * in {@code io_uring_enter(GETEVENTS)}, does.
 *
 * <p><b>Memory ordering:</b> the kernel reads the SQ tail with acquire semantics and the SQE contents after it, so
 * the SQE stores happen before the ready mark (a volatile store) that the tail's compare-and-set (a full fence) reads; the CQ tail is read with acquire before the CQEs it
 * covers, and the CQ head is released after they have been read, so the kernel never overwrites an unread CQE.
 *
 * <p><b>A thread's own ring</b> ({@link #openOwn}, {@link #submitAndWait}) is the other way to use this class: one
 * platform thread submits one request at a time and waits for it in the same {@code io_uring_enter}, with no reaper
 * and no other thread involved; {@link RingFile} gives one to each platform thread on an O_DIRECT file.
 *
 * <p>Requests wait uninterruptibly: the kernel may still write into a caller's buffer until its completion arrives.
 */
final class IoUring implements AutoCloseable {
  static final byte IORING_OP_NOP = 0;
  static final byte IORING_OP_FSYNC = 3;
  static final byte IORING_OP_POLL_ADD = 6;
  static final byte IORING_OP_POLL_REMOVE = 7;
  /** A poll's events: readable (also at end of stream; errors and hang-ups are reported always). */
  static final int POLLIN = 1;
  static final byte IORING_OP_FALLOCATE = 17;
  static final byte IORING_OP_READ = 22;
  static final byte IORING_OP_WRITE = 23;
  static final int IORING_FSYNC_DATASYNC = 1;

  private static final byte IOSQE_FIXED_FILE = 1;
  /** One submitter task (Linux 6.0) whose completions run when it waits for them (6.1): a thread's own ring. */
  private static final int IORING_SETUP_SINGLE_ISSUER = 1 << 12;
  private static final int IORING_SETUP_DEFER_TASKRUN = 1 << 13;
  private static final int IORING_FEAT_SINGLE_MMAP = 1;
  private static final int IORING_FEAT_NODROP = 1 << 1;
  private static final long IORING_OFF_SQ_RING = 0;
  private static final long IORING_OFF_SQES = 0x10000000L;
  private static final int PARAMS_SIZE = 120;
  private static final int SQE_SIZE = 64;
  private static final int CQE_SIZE = 16;
  private static final int PROBE_OPS = 256;
  private static final int IO_URING_OP_SUPPORTED = 1;
  private static final long CLOSE_TOKEN = -1;
  private static final int EINTR = 4;
  private static final int EBUSY = 16;
  private static final int EINVAL = 22;
  /** A thread's own ring holds its one request at a time; the kernel's smallest useful size. */
  private static final int OWN_ENTRIES = 2;

  /** Aligned 32-bit access with acquire/release modes on the rings' shared memory: (segment, offset). */
  private static final VarHandle U32 = JAVA_INT.varHandle();

  private final String name;
  private final int ringFd;
  private final Arena arena;
  private final MemorySegment rings;
  private final long ringsSize;
  private final MemorySegment sqes;
  private final long sqesSize;
  private final long sqHead;
  private final long sqTail;
  private final long cqHead;
  private final long cqTail;
  private final long cqes;
  private final int sqMask;
  private final int cqMask;
  private final int entries;
  private final boolean[] supported = new boolean[PROBE_OPS];
  private final int fileFd;
  private final boolean fixedFile;
  /** A queue ring's owner: which SQEs {@link #prepareOwnOn} left naming another descriptor than the ring's file. */
  private final boolean[] otherFd;

  private final Semaphore permits;
  private final AtomicLong tickets = new AtomicLong();
  /** Per SQE: the ticket (low 32 bits) whose contents it holds once filled. */
  private final AtomicIntegerArray ready;
  private final AtomicInteger slotHint = new AtomicInteger();
  private final AtomicReferenceArray<Request> slots;
  /** One errno capture per slot (its request's {@code io_uring_enter}), one for the reaper, one for close. */
  private final MemorySegment captures;
  private final long captureSize;
  /** Slot 0 of {@link #captures}, the owner's of a thread's or a queue's own ring: sliced once, not per call. */
  private final MemorySegment ownCapture;
  /** Held to drain the completion queue (a shared ring), or for each request (a thread's own ring: against close). */
  private final ReentrantLock reaping = new ReentrantLock();
  /** The CQ head as this side last released it; guarded by {@link #reaping}. */
  private int cqHeadSeen;
  /** A queue ring's SQ tail as its owner last published it ({@link #prepareOwn}). */
  private int ownTail;
  private final Thread reaper;
  private volatile boolean closing;

  /** A request between its submission and its completion. */
  private static final class Request {
    final Thread waiter = Thread.currentThread();
    volatile boolean done;
    int result; // written before done, read after

    void complete(int res) {
      result = res;
      done = true;
      LockSupport.unpark(waiter);
    }
  }

  private IoUring(String name, int ringFd, Arena arena, MemorySegment params, MemorySegment rings, long ringsSize,
      MemorySegment sqes, long sqesSize, int fileFd, boolean fixedFile, boolean shared) {
    this.name = name;
    this.ringFd = ringFd;
    this.arena = arena;
    this.rings = rings;
    this.ringsSize = ringsSize;
    this.sqes = sqes;
    this.sqesSize = sqesSize;
    this.entries = params.get(JAVA_INT, 0);
    this.sqHead = params.get(JAVA_INT, 40);
    this.sqTail = params.get(JAVA_INT, 44);
    this.sqMask = rings.get(JAVA_INT, params.get(JAVA_INT, 48));
    this.cqHead = params.get(JAVA_INT, 80);
    this.cqTail = params.get(JAVA_INT, 84);
    this.cqMask = rings.get(JAVA_INT, params.get(JAVA_INT, 88));
    this.cqes = params.get(JAVA_INT, 100);
    this.fileFd = fileFd;
    this.fixedFile = fixedFile;
    for (long sqe = 0; sqe + SQE_SIZE <= sqesSize; sqe += SQE_SIZE) {
      fillConstant(sqe);
    }
    this.otherFd = new boolean[sqMask + 1];
    long array = params.get(JAVA_INT, 64);
    for (int i = 0; i < entries; i++) {
      rings.set(JAVA_INT, array + 4L * i, i); // SQ slot i names SQE i, for good: tickets pick the SQE
    }
    this.ready = new AtomicIntegerArray(entries);
    for (int i = 0; i < entries; i++) {
      ready.set(i, i - entries); // "filled for the round before ticket i": not ready
    }
    this.permits = new Semaphore(entries);
    this.slots = new AtomicReferenceArray<>(entries);
    this.captureSize = LinuxNative.Calls.CAPTURE.byteSize();
    this.captures = arena.allocate(captureSize * (entries + 2), 8);
    this.ownCapture = captures.asSlice(0, captureSize);
    this.reaper = shared ? Thread.ofPlatform().daemon().name("io_uring " + name).unstarted(this::reapUntilClosed) : null;
  }

  /** The rest of an open once its descriptor is open: a ring set up for it and what is built on the ring. */
  @FunctionalInterface
  interface Setup<T> {
    T run() throws IOException;
  }

  /**
   * Runs {@code setup} for {@code fd}, just opened for {@code path}. If it fails, {@code fd} is closed, and an
   * {@link IOException} is thrown as the {@link UringUnavailableException} it means: io_uring cannot be used here.
   */
  static <T> T closingOnFailure(Path path, int fd, Setup<T> setup) throws IOException {
    try {
      return setup.run();
    } catch (IOException | RuntimeException | LinkageError e) {
      try {
        LinuxNative.close(fd, path);
      } catch (ErrnoException x) {
        e.addSuppressed(x);
      }
      if (e instanceof IOException io) {
        throw new UringUnavailableException(io);
      }
      throw e;
    }
  }

  /**
   * Sets up a ring of {@code entries} submission entries for {@code fd} and starts its reaper.
   *
   * @param name what the ring serves, for messages and the reaper thread's name
   * @throws ErrnoException if io_uring_setup or mmap fails (ENOSYS: no io_uring; EPERM: disabled by the
   *     {@code kernel.io_uring_disabled} sysctl or a seccomp filter; EINVAL: an entry count the kernel refuses)
   * @throws IOException if the kernel lacks what vdisk needs: single-mmap rings and no dropped completions (Linux
   *     5.5) and the READ and WRITE opcodes (5.6)
   */
  static IoUring open(int entries, int fd, String name) throws IOException {
    IoUring ring = open(entries, fd, name, 0, true);
    ring.reaper.start();
    return ring;
  }

  /**
   * Sets up a ring of the calling platform thread's own for {@code fd}, for {@link #submitAndWait}: no reaper, no
   * registered file (unregistering needs the submitter task, and the owner is not the thread that closes), and where
   * the kernel has them (Linux 6.1) one issuer whose completions run when it waits, which spares the kernel a
   * wake-up and a task-work interrupt per request.
   *
   * @throws ErrnoException, IOException as {@link #open(int, int, String)}
   */
  static IoUring openOwn(int fd, String name) throws IOException {
    try {
      return open(OWN_ENTRIES, fd, name, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, false);
    } catch (ErrnoException e) {
      if (e.errno() != EINVAL) {
        throw e;
      }
      return open(OWN_ENTRIES, fd, name, 0, false); // a kernel before 6.1
    }
  }

  private static IoUring open(int entries, int fd, String name, int setupFlags, boolean shared) throws IOException {
    return open(entries, fd, name, setupFlags, shared, shared);
  }

  private static IoUring open(int entries, int fd, String name, int setupFlags, boolean shared, boolean register)
      throws IOException {
    LinuxNative.requireSupported();
    Arena arena = Arena.ofShared();
    int ringFd = -1;
    MemorySegment rings = MemorySegment.NULL;
    long ringsSize = 0;
    try {
      MemorySegment cap = arena.allocate(LinuxNative.Calls.CAPTURE);
      MemorySegment params = arena.allocate(PARAMS_SIZE, 8);
      params.set(JAVA_INT, 8, setupFlags);
      ringFd = UringSyscalls.setup(cap, entries, params);
      if (ringFd < 0) {
        throw new ErrnoException("io_uring_setup", entries + " entries", LinuxNative.errno(cap));
      }
      int features = params.get(JAVA_INT, 20);
      if ((features & IORING_FEAT_SINGLE_MMAP) == 0 || (features & IORING_FEAT_NODROP) == 0) {
        throw new IOException("io_uring: the kernel's rings lack IORING_FEAT_SINGLE_MMAP or IORING_FEAT_NODROP "
            + "(expected: Linux 5.5 or later)");
      }
      int sqEntries = params.get(JAVA_INT, 0);
      int cqEntries = params.get(JAVA_INT, 4);
      ringsSize = Math.max(params.get(JAVA_INT, 64) + 4L * sqEntries, params.get(JAVA_INT, 100) + (long) CQE_SIZE * cqEntries);
      rings = map(cap, ringFd, ringsSize, IORING_OFF_SQ_RING);
      long sqesSize = (long) SQE_SIZE * sqEntries;
      MemorySegment sqes;
      try {
        sqes = map(cap, ringFd, sqesSize, IORING_OFF_SQES);
      } catch (ErrnoException e) {
        UringSyscalls.munmap(cap, rings, ringsSize);
        throw e;
      }
      boolean fixed = register && UringSyscalls.register(cap, ringFd, UringSyscalls.IORING_REGISTER_FILES,
          arena.allocateFrom(JAVA_INT, fd), 1) == 0;
      IoUring ring = new IoUring(name, ringFd, arena, params, rings, ringsSize, sqes, sqesSize, fd, fixed, shared);
      ring.probe(cap);
      if (!ring.supports(IORING_OP_READ) || !ring.supports(IORING_OP_WRITE)) {
        ring.unmap(cap);
        throw new IOException("io_uring: the kernel lacks IORING_OP_READ and IORING_OP_WRITE (expected: Linux 5.6 or later)");
      }
      return ring;
    } catch (IOException | RuntimeException | Error e) {
      if (ringFd >= 0) {
        try {
          LinuxNative.close(ringFd, java.nio.file.Path.of("io_uring"));
        } catch (ErrnoException x) {
          e.addSuppressed(x);
        }
      }
      arena.close();
      throw e;
    }
  }

  private static MemorySegment map(MemorySegment cap, int ringFd, long size, long offset) throws ErrnoException {
    MemorySegment m = UringSyscalls.mmap(cap, size, ringFd, offset);
    if (m.equals(UringSyscalls.MAP_FAILED)) {
      throw new ErrnoException("mmap", "io_uring offset 0x" + Long.toHexString(offset) + " size " + size,
          LinuxNative.errno(cap));
    }
    return m.reinterpret(size);
  }

  /** IORING_REGISTER_PROBE (Linux 5.6): which opcodes this kernel supports; none if the probe itself is refused. */
  private void probe(MemorySegment cap) {
    MemorySegment probe = arena.allocate(16 + 8L * PROBE_OPS, 8);
    if (UringSyscalls.register(cap, ringFd, UringSyscalls.IORING_REGISTER_PROBE, probe, PROBE_OPS) < 0) {
      return;
    }
    int opsLen = Byte.toUnsignedInt(probe.get(JAVA_BYTE, 1));
    for (int i = 0; i < opsLen && i < PROBE_OPS; i++) {
      long op = 16 + 8L * i;
      if ((probe.get(JAVA_SHORT, op + 2) & IO_URING_OP_SUPPORTED) != 0) {
        supported[Byte.toUnsignedInt(probe.get(JAVA_BYTE, op))] = true;
      }
    }
  }

  /** True if the kernel has {@code opcode}. */
  boolean supports(byte opcode) {
    return supported[opcode];
  }

  /**
   * Submits one operation on the ring's file and waits for its completion.
   *
   * @param addr a buffer's address (READ, WRITE) or the length (FALLOCATE), as the SQE's {@code addr} field
   * @param len the buffer's length (READ, WRITE) or the mode (FALLOCATE)
   * @param opFlags the SQE's per-opcode flags ({@code fsync_flags}, {@code rw_flags})
   * @return the CQE's result: a count or 0 on success, {@code -errno} on failure
   * @throws ErrnoException if io_uring_enter itself fails for a reason other than a retry
   * @throws ClosedChannelException if the ring is closed
   */
  int submit(byte opcode, long addr, int len, long offset, int opFlags) throws IOException {
    if (closing) {
      throw new ClosedChannelException(); // as a closed FileChannel says it
    }
    boolean interrupted = Thread.interrupted(); // park() would not wait while the flag is set
    permits.acquireUninterruptibly();
    Request r = new Request();
    int slot = claim(r);
    try {
      publish(opcode, addr, len, offset, opFlags, slot);
      enter(slot);
      if (reaping.tryLock()) {
        try {
          drain();
        } finally {
          reaping.unlock();
        }
      }
      while (!r.done) {
        LockSupport.park(this);
      }
      return r.result;
    } finally {
      slots.set(slot, null);
      permits.release();
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * A thread's own ring ({@link #openOwn}): submits one operation and waits for its completion in the same
   * {@code io_uring_enter}, as a positional system call would, with no other thread involved. Only the thread that
   * opened the ring calls this (the kernel refuses others where it has single-issuer rings).
   *
   * @return the CQE's result, as {@link #submit}'s
   * @throws ErrnoException if io_uring_enter itself fails for a reason other than a retry
   * @throws ClosedChannelException if the ring is closed
   */
  int submitAndWait(byte opcode, long addr, int len, long offset, int opFlags) throws IOException {
    reaping.lock(); // only ever contended by close
    try {
      if (closing) {
        throw new ClosedChannelException();
      }
      int tail = (int) U32.get(rings, sqTail); // only this thread moves it
      fill(tail & sqMask, opcode, addr, len, offset, opFlags, 0);
      U32.setRelease(rings, sqTail, ++tail);
      MemorySegment cap = ownCapture;
      while (true) {
        int head = cqHeadSeen;
        if (head != (int) U32.getAcquire(rings, cqTail)) {
          int res = rings.get(JAVA_INT, cqes + (long) (head & cqMask) * CQE_SIZE + 8);
          cqHeadSeen = head + 1;
          U32.setRelease(rings, cqHead, head + 1);
          return res;
        }
        int toSubmit = tail - (int) U32.getAcquire(rings, sqHead);
        // Submitted entries count even when the wait is interrupted; a failure submitted nothing: retry.
        if (UringSyscalls.enter(cap, ringFd, toSubmit, 1, UringSyscalls.IORING_ENTER_GETEVENTS) < 0) {
          int errno = LinuxNative.errno(cap);
          if (errno != EINTR && errno != ErrnoException.EAGAIN && errno != EBUSY) {
            throw new ErrnoException("io_uring_enter", name, errno);
          }
        }
      }
    } finally {
      reaping.unlock();
    }
  }

  /**
   * Sets up a ring for one thread's queue of {@code entries} requests ({@link UringAio}): no reaper, the file
   * registered (measured: fewer CPU us per request than without, as the kernel need not look the descriptor up for
   * each), and no setup flags. Measured (CPU time per request beyond start-up, 4k O_DIRECT reads at depth 16, Linux
   * 6.18): no flags 3.2-3.4 us, COOP_TASKRUN with TASKRUN_FLAG 3.4-3.6 us, SINGLE_ISSUER with DEFER_TASKRUN (as {@link
   * #openOwn}'s) 4.3 us; the system calls per request were the same (1.06 io_uring_enter). Single-issuer rings would
   * also tie the queue to the thread that opened it, where a virtual thread's carrier may change between calls.
   *
   * @throws ErrnoException, IOException as {@link #open(int, int, String)}
   */
  static IoUring openQueue(int entries, int fd, String name) throws IOException {
    return open(entries, fd, name, 0, false, true);
  }

  /**
   * A queue ring's owner ({@link #openQueue}): fills the next submission entry and publishes it with a release store
   * of the SQ tail, so that the kernel, which reads the tail with acquire, sees the entry's contents. The caller keeps
   * at most {@code entries} requests unconsumed by the kernel.
   */
  void prepareOwn(byte opcode, long addr, int len, long offset, long userData) {
    int tail = ownTail;
    int index = tail & sqMask;
    if (otherFd[index]) {
      // The entry last named another descriptor (prepareOwnOn); the kernel has consumed it, as its slot came round.
      otherFd[index] = false;
      fillConstant((long) index * SQE_SIZE);
    }
    fill(index, opcode, addr, len, offset, 0, userData);
    ownTail = ++tail;
    U32.setRelease(rings, sqTail, tail);
  }

  /**
   * A queue ring's owner: {@link #prepareOwn} of an operation on {@code fd}, a descriptor of its own rather than the
   * ring's (registered) file, with {@code opFlags} in the entry's operation flags (a poll's events).
   *
   * @return the SQ tail that published it: the kernel has consumed the entry once {@link #consumedOwn} reaches it
   */
  int prepareOwnOn(int fd, byte opcode, long addr, int len, long offset, int opFlags, long userData) {
    int tail = ownTail;
    int index = tail & sqMask;
    fill(index, opcode, addr, len, offset, opFlags, userData);
    long sqe = (long) index * SQE_SIZE;
    sqes.set(JAVA_BYTE, sqe + 1, (byte) 0);
    sqes.set(JAVA_INT, sqe + 4, fd);
    otherFd[index] = true; // fill leaves the descriptor and flags alone: the next prepareOwn here restores them
    ownTail = ++tail;
    U32.setRelease(rings, sqTail, tail);
    return tail;
  }

  /** A queue ring's owner: the SQ head, the count of entries the kernel has consumed (acquire load), wrapping. */
  int consumedOwn() {
    return (int) U32.getAcquire(rings, sqHead);
  }

  /** A queue ring's owner: the entries published and not yet consumed by the kernel (acquire load of the SQ head). */
  int unconsumedOwn() {
    return ownTail - (int) U32.getAcquire(rings, sqHead);
  }

  /**
   * A queue ring's owner: {@code io_uring_enter(toSubmit, minComplete, flags)}.
   *
   * @return the entries consumed, or {@code -errno}
   */
  int enterOwn(int toSubmit, int minComplete, int flags) {
    MemorySegment cap = ownCapture;
    int r = UringSyscalls.enter(cap, ringFd, toSubmit, minComplete, flags);
    return r < 0 ? -LinuxNative.errno(cap) : r;
  }

  /**
   * A queue ring's owner: hands every CQE that has arrived to {@code done} ({@code user_data}, {@code res}), read from
   * the mapped ring without a system call. The CQ tail is read with acquire before the CQEs it covers; the CQ head is
   * released past each CQE before it is handed over, so the slot is the kernel's again and a completion that submits
   * finds room.
   *
   * @return the number handed over
   */
  int pollOwn(AsyncIo.Completion done) throws IOException {
    int n = 0;
    int head;
    // The head is read again after each completion: one that polls again itself has moved it.
    while ((head = cqHeadSeen) != (int) U32.getAcquire(rings, cqTail)) {
      long cqe = cqes + (long) (head & cqMask) * CQE_SIZE;
      long userData = rings.get(JAVA_LONG, cqe);
      int res = rings.get(JAVA_INT, cqe + 8);
      cqHeadSeen = head + 1;
      U32.setRelease(rings, cqHead, head + 1);
      n++;
      done.completed((int) userData, res);
    }
    return n;
  }

  private int claim(Request r) {
    // A free slot exists: at most `entries` requests hold permits. Start where the last claim ended.
    for (int i = slotHint.getAndIncrement() & (entries - 1); ; i = (i + 1) & (entries - 1)) {
      if (slots.compareAndSet(i, null, r)) {
        return i;
      }
    }
  }

  /** Fills the SQE its ticket names, marks it ready and publishes every ready entry from the tail on. */
  private void publish(byte opcode, long addr, int len, long offset, int opFlags, long userData) {
    long ticket = tickets.getAndIncrement();
    int index = (int) (ticket & sqMask);
    fill(index, opcode, addr, len, offset, opFlags, userData);
    ready.set(index, (int) ticket);
    int tail;
    // Volatile, not just acquire: this read must not pass the ready mark above (a store-load order, as in Dekker's
    // algorithm), else this thread and one advancing the tail could each miss the other's progress.
    while (ready.get((tail = (int) U32.getVolatile(rings, sqTail)) & sqMask) == tail) {
      U32.compareAndSet(rings, sqTail, tail, tail + 1); // a failure means another thread moved it: look again
    }
  }

  /** Writes submission-queue entry {@code index}: an operation on the ring's file. */
  private void fill(int index, byte opcode, long addr, int len, long offset, int opFlags, long userData) {
    long sqe = (long) index * SQE_SIZE;
    // Only the fields that differ between requests, stored in place (no slice); the rest stay as fillConstant left
    // them. Each store is a bounds- and liveness-checked access, and C1, which compiles bench's cache=none runs, keeps
    // every check: the twelve stores of a whole SQE were 11% of a 4 KiB depth-16 read bench's samples.
    sqes.set(JAVA_BYTE, sqe, opcode);
    sqes.set(JAVA_LONG, sqe + 8, offset);
    sqes.set(JAVA_LONG, sqe + 16, addr);
    sqes.set(JAVA_INT, sqe + 24, len);
    sqes.set(JAVA_INT, sqe + 28, opFlags);
    sqes.set(JAVA_LONG, sqe + 32, userData);
  }

  /**
   * Stores the fields of the SQE at byte {@code sqe} that are the same for every request of this ring, once, when it
   * is set up: {@link #fill} leaves them alone, and the kernel only reads SQEs.
   */
  private void fillConstant(long sqe) {
    sqes.set(JAVA_BYTE, sqe + 1, fixedFile ? IOSQE_FIXED_FILE : 0);
    sqes.set(JAVA_SHORT, sqe + 2, (short) 0); // ioprio
    sqes.set(JAVA_INT, sqe + 4, fixedFile ? 0 : fileFd);
    sqes.set(JAVA_LONG, sqe + 40, 0L); // buf_index, personality, splice_fd_in
    sqes.set(JAVA_LONG, sqe + 48, 0L); // addr3
    sqes.set(JAVA_LONG, sqe + 56, 0L);
  }

  /**
   * Hands the kernel every published entry it has not consumed yet, until none is left: each thread that moved the
   * tail calls this after, so no entry is left behind, also where the kernel stops a batch early at a failing entry.
   */
  private void enter(int slot) throws ErrnoException {
    MemorySegment cap = captures.asSlice(captureSize * slot, captureSize);
    while ((int) U32.getAcquire(rings, sqHead) != (int) U32.getAcquire(rings, sqTail)) {
      if (UringSyscalls.enter(cap, ringFd, entries, 0, 0) < 0) {
        int errno = LinuxNative.errno(cap);
        if (errno != EINTR && errno != ErrnoException.EAGAIN && errno != EBUSY) {
          throw new ErrnoException("io_uring_enter", name, errno);
        }
        Thread.yield();
      }
    }
  }

  /** Completes every request whose CQE has arrived; returns true if the close token was among them. */
  private boolean drain() {
    boolean closeSeen = false;
    int head = cqHeadSeen;
    int tail;
    while (head != (tail = (int) U32.getAcquire(rings, cqTail))) {
      for (; head != tail; head++) {
        long cqe = cqes + (long) (head & cqMask) * CQE_SIZE;
        long userData = rings.get(JAVA_LONG, cqe);
        int res = rings.get(JAVA_INT, cqe + 8);
        if (userData == CLOSE_TOKEN) {
          closeSeen = true;
        } else {
          slots.get((int) userData).complete(res);
        }
      }
      U32.setRelease(rings, cqHead, head);
    }
    cqHeadSeen = head;
    return closeSeen;
  }

  /** The reaper: sleeps in the kernel until a completion arrives, drains, until {@link #close} posts its token. */
  private void reapUntilClosed() {
    MemorySegment cap = captures.asSlice(captureSize * entries, captureSize);
    while (true) {
      if (UringSyscalls.enter(cap, ringFd, 0, 1, UringSyscalls.IORING_ENTER_GETEVENTS) < 0) {
        int errno = LinuxNative.errno(cap);
        if (errno != EINTR && errno != ErrnoException.EAGAIN && errno != EBUSY) {
          throw new IllegalStateException("io_uring " + name + ": io_uring_enter(GETEVENTS): "
              + LinuxNative.strerror(errno) + " (errno " + errno + ")");
        }
      }
      reaping.lock();
      try {
        if (drain()) {
          return;
        }
      } finally {
        reaping.unlock();
      }
    }
  }

  /**
   * Waits for requests in flight, stops the reaper (a NOP whose completion it recognises), unregisters the file,
   * unmaps the rings and closes the ring's fd. Not idempotent: the owner calls it once.
   */
  @Override
  public void close() throws ErrnoException {
    if (reaper == null) {
      closeOwn();
      return;
    }
    closing = true;
    permits.acquireUninterruptibly(entries); // every request has completed; no new one passes the closing check
    MemorySegment cap = captures.asSlice(captureSize * (entries + 1), captureSize);
    publish(IORING_OP_NOP, 0, 0, 0, 0, CLOSE_TOKEN);
    enter(entries + 1);
    boolean interrupted = false;
    while (reaper.isAlive()) {
      try {
        reaper.join();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    try {
      if (fixedFile) {
        // The kernel tears a closed ring down asynchronously: a file still registered would stay open a moment
        // after close returns (a umount right after would find the file system busy). Unregistering waits.
        UringSyscalls.register(cap, ringFd, UringSyscalls.IORING_UNREGISTER_FILES, MemorySegment.NULL, 0);
      }
      unmap(cap);
      LinuxNative.close(ringFd, java.nio.file.Path.of("io_uring " + name));
    } finally {
      arena.close();
    }
  }

  /** A thread's or a queue's own ring: waits for a request in flight of {@link #submitAndWait}, tears the ring down. */
  private void closeOwn() throws ErrnoException {
    reaping.lock();
    try {
      closing = true;
      MemorySegment cap = ownCapture;
      if (fixedFile) {
        // A queue's ring (no single issuer: any thread may): the file is closed when close returns, as close's.
        UringSyscalls.register(cap, ringFd, UringSyscalls.IORING_UNREGISTER_FILES, MemorySegment.NULL, 0);
      }
      unmap(cap);
      LinuxNative.close(ringFd, java.nio.file.Path.of("io_uring " + name));
    } finally {
      reaping.unlock();
      arena.close();
    }
  }

  private void unmap(MemorySegment cap) {
    UringSyscalls.munmap(cap, sqes, sqesSize);
    UringSyscalls.munmap(cap, rings, ringsSize);
  }

  @Override
  public String toString() {
    return "IoUring[" + name + ", entries=" + entries + (fixedFile ? ", registered file" : "") + "]";
  }
}
