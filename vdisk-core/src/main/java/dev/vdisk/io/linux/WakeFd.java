package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The eventfd of an {@link AsyncIo}'s {@link AsyncIo#wake}: another thread {@linkplain #add adds} to it, and the
 * queue keeps a request on it in the kernel (an io_uring read, a Linux AIO poll) whose completion ends the owner's
 * wait. Its native memory: the 8 bytes a read takes the count into, the count {@link #add} writes (one) and the
 * errno captures of both sides.
 */
final class WakeFd implements AutoCloseable {
  private final String name;
  private final Arena arena = Arena.ofShared();
  /** Guards {@link #fd} between {@link #add} (any thread) and {@link #close} (the owner). */
  private final Object lock = new Object();
  /** The eventfd; -1 once closed. */
  private int fd;
  private final MemorySegment count;
  private final MemorySegment one;
  private final MemorySegment addCapture;
  private final MemorySegment takeCapture;

  /** Creates the eventfd; {@code name} says whose it is in messages. */
  WakeFd(String name) throws ErrnoException {
    this.name = name;
    try {
      this.fd = LinuxNative.eventfd(name);
    } catch (ErrnoException e) {
      arena.close();
      throw e;
    }
    this.count = arena.allocate(JAVA_LONG);
    this.one = arena.allocate(JAVA_LONG);
    one.set(JAVA_LONG, 0, 1L);
    this.addCapture = arena.allocate(LinuxNative.Calls.CAPTURE);
    this.takeCapture = arena.allocate(LinuxNative.Calls.CAPTURE);
  }

  /** The eventfd, for the owner's request on it. */
  int fd() {
    return fd;
  }

  /** The 8 bytes a read of the eventfd takes its count into: alive until {@link #close}. */
  MemorySegment count() {
    return count;
  }

  /** Adds one to the count, which makes the eventfd readable. Thread-safe; a no-op once closed. */
  void add() throws ErrnoException {
    synchronized (lock) {
      if (fd >= 0) {
        LinuxNative.eventfdAdd(fd, one, addCapture, name);
      }
    }
  }

  /** The owner: reads the count, which resets it (the eventfd is readable only after the next {@link #add}). */
  void take() throws ErrnoException {
    LinuxNative.eventfdTake(fd, count, takeCapture, name);
  }

  /** Closes the eventfd and frees the memory: the kernel holds no request on it any more. Idempotent. */
  @Override
  public void close() throws ErrnoException {
    synchronized (lock) {
      if (fd < 0) {
        return;
      }
      int f = fd;
      fd = -1;
      try {
        LinuxNative.close(f, java.nio.file.Path.of("eventfd " + name));
      } finally {
        arena.close();
      }
    }
  }
}
