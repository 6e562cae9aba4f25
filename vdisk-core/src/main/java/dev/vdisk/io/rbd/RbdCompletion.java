package dev.vdisk.io.rbd;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * One librbd AIO request's completion ({@code rbd_completion_t}): the requesting thread submits, then parks in
 * {@link #await()} until librbd's callback thread hands over the result and unparks it. A virtual thread parks
 * without holding a carrier, so many requests are in flight at once: the queue depth is the number of threads
 * waiting. The wait has no deadline of its own: librados' {@code rados_osd_op_timeout}, which {@link RadosCluster}
 * always sets, fails every request that the cluster does not answer.
 */
final class RbdCompletion {
  /**
   * Where {@code rbd_aio_create_completion} writes the new completion: one slot per thread for the thread's life,
   * read right after the call, so a request allocates no native memory of its own.
   */
  private static final ThreadLocal<MemorySegment> OUT = new Out();

  /**
   * The slot of {@link #OUT}: a class rather than {@code ThreadLocal.withInitial}'s lambda, which the JVM spun on the
   * first request of every command on RBD (a start-up cache trained without a cluster never runs it; it holds this
   * class, loaded by name).
   */
  private static final class Out extends ThreadLocal<MemorySegment> {
    @Override
    protected MemorySegment initialValue() {
      return Arena.ofAuto().allocate(ADDRESS);
    }
  }

  private final RbdNative rbd;
  private final Thread waiter = Thread.currentThread();
  private final int slot = RbdCallbacks.register(this);
  private final long handle;
  private volatile boolean done;
  private long result;

  /** A completion for a request the current thread is about to submit and then {@link #await}. */
  RbdCompletion(RbdNative rbd) throws Throwable {
    this.rbd = rbd;
    MemorySegment out = OUT.get();
    int rc = (int) rbd.rbdAioCreateCompletion.call(slot, rbd.completionUpcall().address(), out.address());
    if (rc < 0) {
      RbdCallbacks.release(slot);
      throw new RbdException(rc, "rbd_aio_create_completion");
    }
    handle = out.get(JAVA_LONG, 0); // a long, not a MemorySegment: nothing allocated per request
  }

  /** The {@code rbd_completion_t} to pass to the AIO call. */
  long handle() {
    return handle;
  }

  /** Releases a completion whose AIO call returned an error: librbd never calls back for it. */
  void abandon() throws Throwable {
    RbdCallbacks.release(slot);
    rbd.rbdAioRelease.call(handle);
  }

  /** Called once on librbd's thread: takes the result, releases the completion (as QEMU does there), wakes the waiter. */
  void complete(long completion) {
    long r;
    try {
      r = rbd.rbdAioGetReturnValue.call(completion);
      rbd.rbdAioRelease.call(completion);
    } catch (Throwable e) {
      r = -RbdException.EIO;
    }
    result = r;
    done = true;
    LockSupport.unpark(waiter);
  }

  /** Parks until the callback ran; returns librbd's result (bytes, 0, or {@code -errno}). Interrupts are kept, not acted on: the buffer must outlive the request. */
  long await() {
    boolean interrupted = false;
    while (!done) {
      LockSupport.park(this);
      interrupted |= Thread.interrupted();
    }
    RbdCallbacks.release(slot); // the callback took this completion out of its slot: another request may have it
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return result;
  }
}
