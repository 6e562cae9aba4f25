package dev.vdisk.io.linux;

import java.io.IOException;
import java.nio.file.Path;

/**
 * One thread's asynchronous requests on an io_uring of its own and an O_DIRECT file descriptor of its own: {@code
 * aio=io_uring}'s queue, as {@link LinuxAio} is {@code aio=native}'s. A prepared request is an SQE published at once
 * (release store of the SQ tail); {@link #submit} hands what is published to the kernel in one {@code
 * io_uring_enter}, which also posts the completions that have arrived meanwhile. Completions are read from the
 * mapped CQ ring without a system call ({@link #poll}); {@code io_uring_enter(GETEVENTS)} only waits for those not
 * yet there. A request the kernel fails, at submission or later, comes back in its own CQE: {@code refused} is never
 * called.
 *
 * <p>The file is registered with the ring (IOSQE_FIXED_FILE), where the kernel allows it. The ring has at least
 * {@code depth() + 2} submission entries and twice as many completion entries, so with at most {@code depth}
 * requests, the wake-up's read and the watch's poll in flight it never overflows.
 *
 * <p>{@link #wake}: the ring always holds a read of an eventfd of this queue's ({@code user_data} {@link #depth()},
 * not a slot); another thread's {@code wake} adds to the eventfd, the read completes and its completion ends the
 * owner's wait in {@code io_uring_enter} as a request's would. The owner then re-arms the read (it goes to the kernel
 * with the next submission) and the reap returns, with fewer completions than asked for if need be.
 *
 * <p>{@link #watch}: a poll of another descriptor (a socket's, {@code user_data} {@code depth() + 1}) in the same
 * ring, so that one wait ends at a request's completion or when that descriptor becomes readable, whichever comes
 * first. One-shot: its completion ends the wait as a wake does and sets {@link #readable}; the owner arms it again.
 */
public final class UringAio implements AsyncIo {
  private static final int EINTR = 4;
  private static final int EBUSY = 16;
  /** Wait-only enters refused in a row, with no completion arriving, after which a reap fails. */
  static final int WAIT_REFUSALS = 1000;

  private final Path path;
  private final int fd;
  private final int depth;
  private final IoUring ring;
  private final Ring queueRing;
  private boolean closed;
  /** The eventfd {@link #wake} adds to, and the memory of the read kept on it. */
  private final WakeFd wakeFd;
  /** The SQ tail that published the wake-up read last armed: the kernel holds it once its SQ head got there. */
  private int armedAt;
  /** Whether the wake-up read is in the ring (published or in the kernel), not yet completed. */
  private boolean armed;
  /** Set when the wake-up read completed, until {@link #woken} takes it. */
  private boolean woken;
  /** Whether the poll of {@link #watch} is in the ring (published or in the kernel), not yet completed. */
  private boolean watchArmed;
  /** The SQ tail that published the poll of {@link #watch}. */
  private int watchedAt;
  /** Set when the poll of {@link #watch} completed, until {@link #readable} takes it. */
  private boolean readable;
  /** Completions of this queue's own entries (the wake-up read, the watch's poll) in the poll under way. */
  private int own;
  /** The completion a poll hands the requests' completions to ({@link #sorted}). */
  private Completion target;
  /** Hands a request's completion to {@link #target}; the wake-up read's sets {@link #woken} and re-arms it. */
  private final Completion sorting = this::sort;

  private UringAio(Path path, int fd, int depth, IoUring ring, WakeFd wakeFd) {
    this.path = path;
    this.fd = fd;
    this.depth = depth;
    this.ring = ring;
    this.wakeFd = wakeFd;
    this.queueRing = new Ring() {
      @Override
      public int poll(Completion done) throws IOException {
        return sorted(done);
      }

      @Override
      public boolean woken() {
        return woken;
      }

      @Override
      public int unconsumed() {
        return ring.unconsumedOwn();
      }

      @Override
      public int enter(int toSubmit, int minComplete) {
        return ring.enterOwn(toSubmit, minComplete, UringSyscalls.IORING_ENTER_GETEVENTS);
      }
    };
  }

  /**
   * Opens {@code path} again with O_DIRECT (close-on-exec) and sets up a ring for {@code depth} requests.
   *
   * @throws UringUnavailableException if io_uring cannot be used here; the message says why
   * @throws IOException if the file cannot be opened
   */
  public static UringAio open(Path path, boolean writable, int depth) throws IOException {
    LinuxNative.requireSupported();
    if (depth < 1) {
      throw new IllegalArgumentException("depth: " + depth + " (expected: at least 1)");
    }
    int fd = LinuxNative.open(path, (writable ? LinuxNative.O_RDWR : LinuxNative.O_RDONLY) | LinuxNative.oDirect());
    return IoUring.closingOnFailure(path, fd, () -> {
      String name = String.valueOf(path.getFileName());
      IoUring ring = IoUring.openQueue(depth + 2, fd, name); // the requests, the wake-up read and the watch's poll
      WakeFd wakeFd;
      try {
        wakeFd = new WakeFd(name);
      } catch (ErrnoException e) {
        try {
          ring.close();
        } catch (ErrnoException x) {
          e.addSuppressed(x);
        }
        throw e;
      }
      UringAio aio = new UringAio(path, fd, depth, ring, wakeFd);
      aio.arm();
      return aio;
    });
  }

  /** Publishes the wake-up read; it reaches the kernel with the next submission. */
  private void arm() {
    armedAt = ring.prepareOwnOn(wakeFd.fd(), IoUring.IORING_OP_READ, wakeFd.count().address(), Long.BYTES, 0, 0, depth);
    armed = true;
  }

  private void sort(int slot, long result) throws IOException {
    if (slot == depth) {
      own++;
      armed = false;
      woken = true;
      arm();
    } else if (slot == depth + 1) {
      own++;
      watchArmed = false;
      readable = true; // also a failed poll: the descriptor's own read then reports what is wrong
      woken = true;
    } else {
      target.completed(slot, result);
    }
  }

  /** {@link IoUring#pollOwn} with the completions of this queue's own entries kept from {@code done} and uncounted. */
  private int sorted(Completion done) throws IOException {
    Completion outer = target; // a completion that polls again itself
    int outerOwn = own;
    target = done;
    own = 0;
    boolean before = woken;
    woken = false;
    try {
      int n = ring.pollOwn(sorting);
      woken |= before;
      return n - own;
    } finally {
      target = outer;
      own = outerOwn;
    }
  }

  /**
   * Ends the owner's wait in a reap now, or if it is not waiting, its next one (that reap returns what has completed
   * without waiting for more). Thread-safe: the one method another thread may call; a no-op once closed.
   *
   * @throws ErrnoException if the eventfd cannot be written (the wait then ends with its next completion)
   */
  @Override
  public void wake() throws ErrnoException {
    wakeFd.add();
  }

  @Override
  public boolean wakeable() {
    return true;
  }

  @Override
  public boolean woken() {
    boolean w = woken;
    woken = false;
    return w;
  }

  /** A poll of a descriptor is an opcode of Linux 5.1, older than the reads and writes this queue needs. */
  @Override
  public boolean watches() {
    return true;
  }

  @Override
  public void watch(int fd) {
    if (!watchArmed) {
      watchedAt = ring.prepareOwnOn(fd, IoUring.IORING_OP_POLL_ADD, 0, 0, 0, IoUring.POLLIN, depth + 1);
      watchArmed = true;
    }
  }

  @Override
  public boolean readable() {
    boolean r = readable;
    readable = false;
    return r;
  }

  @Override
  public int depth() {
    return depth;
  }

  @Override
  public void prepare(int slot, boolean write, long address, int length, long offset) {
    ring.prepareOwn(write ? IoUring.IORING_OP_WRITE : IoUring.IORING_OP_READ, address, length, offset, slot);
  }

  @Override
  public int submit(Completion refused) throws IOException {
    int taken = 0;
    int left;
    while ((left = ring.unconsumedOwn()) > 0) {
      // GETEVENTS with no minimum waits for nothing, but has the kernel post the completions whose task work is
      // pending: measured, fewer CPU us per request than a plain submit (the next poll finds them in the ring).
      int r = ring.enterOwn(left, 0, UringSyscalls.IORING_ENTER_GETEVENTS);
      if (r == -EINTR) {
        continue;
      }
      if (r == -ErrnoException.EAGAIN || r == -EBUSY) {
        break; // the kernel's resources or completion room: the rest waits for the next call
      }
      if (r < 0) {
        throw new ErrnoException("io_uring_enter", path.toString(), -r);
      }
      if (r == 0) {
        break;
      }
      taken += r;
    }
    return taken;
  }

  /**
   * One {@code io_uring_enter} submits what is published and waits for the completions (the kernel skips the wait
   * when it takes fewer entries than asked: then this returns what has arrived without waiting).
   */
  @Override
  public int submitAndReap(int min, Completion refused, Completion done) throws IOException {
    int n = sorted(done);
    int left = ring.unconsumedOwn();
    if (left == 0) {
      return n < min ? n + reap(min - n, done) : n;
    }
    if (n >= min || woken) {
      submit(refused);
      return n;
    }
    int r = ring.enterOwn(left, min - n, UringSyscalls.IORING_ENTER_GETEVENTS);
    if (r < 0 && r != -EINTR && r != -ErrnoException.EAGAIN && r != -EBUSY) {
      throw new ErrnoException("io_uring_enter", path.toString(), -r);
    }
    n += sorted(done);
    // All taken: min counts only requests in the kernel now, and a wait cut short (EINTR) is waited again.
    return r == left && n < min && !woken ? n + reap(min - n, done) : n;
  }

  @Override
  public int unsubmitted() {
    int n = ring.unconsumedOwn(); // less the wake-up read and the watch's poll, which are no requests
    int consumed = ring.consumedOwn();
    return n - (armed && consumed - armedAt < 0 ? 1 : 0) - (watchArmed && consumed - watchedAt < 0 ? 1 : 0);
  }

  @Override
  public int reap(int min, Completion done) throws IOException {
    return reap(queueRing, path, min, done);
  }

  /**
   * {@link #reap} on {@code ring}. The kernel skips the wait of an {@code io_uring_enter} whose submission it refused
   * (EAGAIN: no memory for a request), so after a refusal this waits without submitting: it sleeps until a completion
   * arrives instead of spinning on the refusal. A wait refused {@value #WAIT_REFUSALS} times in a row with nothing
   * arriving fails the reap rather than spin for good. A {@link Ring#woken} ring ends the reap with what has arrived.
   */
  static int reap(Ring ring, Path path, int min, Completion done) throws IOException {
    int n = ring.poll(done);
    boolean submit = true;
    int refusals = 0;
    while (n < min && !ring.woken()) {
      int r = ring.enter(submit ? ring.unconsumed() : 0, min - n);
      if (r == -ErrnoException.EAGAIN || r == -EBUSY) {
        if (!submit && ++refusals >= WAIT_REFUSALS) {
          throw new ErrnoException("io_uring_enter", path.toString(), -r);
        }
        submit = false; // the rest stays published for the next submit
      } else if (r < 0 && r != -EINTR) {
        throw new ErrnoException("io_uring_enter", path.toString(), -r);
      }
      int arrived = ring.poll(done);
      if (arrived > 0) {
        refusals = 0;
      }
      n += arrived;
    }
    return n;
  }

  /** What {@link #reap(Ring, Path, int, Completion)} needs of a queue ring: the kernel's side, which a test scripts. */
  interface Ring {
    /** Hands every completion that has arrived to {@code done}; returns how many. */
    int poll(Completion done) throws IOException;

    /** The requests published and not yet consumed by the kernel. */
    int unconsumed();

    /** {@code io_uring_enter(toSubmit, minComplete, GETEVENTS)}: the entries consumed, or {@code -errno}. */
    int enter(int toSubmit, int minComplete);

    /** Whether a {@link #wake} ended the wait: a completion of the wake-up read was polled and not yet taken. */
    default boolean woken() {
      return false;
    }
  }

  @Override
  public int poll(Completion done) throws IOException {
    return sorted(done);
  }

  @Override
  public String call() {
    return "io_uring";
  }

  /**
   * Tears the ring down (the caller has reaped its requests) and closes the descriptors. Idempotent. The wake-up read
   * is completed first (a wake of its own), so that the kernel no longer holds its buffer when it is freed, and the
   * watch's poll is removed, so that the watched socket is not held open by the ring's teardown, which runs later.
   */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      disarm();
    } finally {
      try {
        ring.close();
      } finally {
        try {
          wakeFd.close();
        } finally {
          LinuxNative.close(fd, path);
        }
      }
    }
  }

  /**
   * Completes the wake-up read and the watch's poll: submits what is still published, wakes the read, removes the
   * poll and waits for their completions. An entry that never reached the kernel holds nothing there.
   */
  private void disarm() throws IOException {
    submit((slot, result) -> {});
    int consumed = ring.consumedOwn();
    boolean read = armed && consumed - armedAt >= 0;
    boolean poll = watchArmed && consumed - watchedAt >= 0;
    if (read) {
      wake();
    }
    if (poll) {
      // POLL_REMOVE names the poll by its user_data (in addr) and no descriptor; its own completion is dropped
      ring.prepareOwnOn(-1, IoUring.IORING_OP_POLL_REMOVE, depth + 1, 0, 0, 0, depth + 2);
    }
    while ((read && armed) || (poll && watchArmed)) {
      int r = ring.enterOwn(ring.unconsumedOwn(), 1, UringSyscalls.IORING_ENTER_GETEVENTS);
      if (r < 0 && r != -EINTR) {
        throw new ErrnoException("io_uring_enter", path.toString(), -r);
      }
      ring.pollOwn((slot, result) -> {
        if (slot == depth) {
          armed = false;
        } else if (slot == depth + 1) {
          watchArmed = false;
        }
      });
    }
  }

  @Override
  public String toString() {
    return "UringAio[" + path + ", depth " + depth + "]";
  }
}
