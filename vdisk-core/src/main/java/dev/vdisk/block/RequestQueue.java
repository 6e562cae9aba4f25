package dev.vdisk.block;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Reads and writes of one device ({@link BlockDevice#queue}) submitted many at a time and waited for once: QEMU's asynchronous request path
 * ({@code aio=native}), for a caller that keeps many requests in flight from one thread, as {@code qemu-img bench}
 * does. A request is queued by {@link #read} or {@link #write} and completes, in any order, in a later {@link #reap};
 * whether it ran at queueing time (the synchronous adapter, a fall-back) or in the kernel meanwhile is the queue's
 * business, the results are the device's {@code read} and {@code write}.
 *
 * <p>Not thread-safe: one thread queues and reaps. Other threads may use the device itself meanwhile, with the same
 * guarantees as between concurrent requests on it. At most {@link #depth()} requests are in flight (queued and not yet
 * reaped); a buffer belongs to the queue from queueing until its completion is reaped, and its position is then at
 * its limit, as after the device's call. Closing waits for the requests in flight and drops their completions.
 */
public interface RequestQueue extends Closeable {
  /** The most requests in flight at once. */
  int depth();

  /** True if requests overlap in the kernel; false for the synchronous adapter, which runs each as it is queued. */
  boolean asynchronous();

  /**
   * Queues a read of {@code dst.remaining()} bytes at {@code offset}, the device's {@code read} (zeroes past the end
   * of a file included).
   *
   * @param tag the caller's name for the request, handed back with its completion
   * @throws IllegalStateException if {@link #depth()} requests are in flight
   * @throws IOException only for a failure of the queue itself; the request's own errors come with its completion
   */
  void read(long offset, ByteBuffer dst, int tag) throws IOException;

  /** Queues a write of {@code src.remaining()} bytes at {@code offset}, the device's {@code write} without flags. */
  void write(long offset, ByteBuffer src, int tag) throws IOException;

  /**
   * Starts what is queued and waits until at least {@code min} requests (at most those in flight) have completed,
   * handing each to {@code done}. Requests that {@code done} itself queues may start only with the next reap (a
   * queue may hand them to the kernel together, in the same call as that reap's wait); a reap for none ({@code min}
   * 0) starts everything queued before it returns.
   *
   * @return the number of completions handed over
   * @throws IOException only for a failure of the queue itself, or what {@code done} throws
   */
  int reap(int min, Completion done) throws IOException;

  /**
   * Whether {@link #wake} works: another thread can end this queue's wait in a reap (a file's queue under io_uring or
   * Linux AIO). False by default: the synchronous adapter never waits, librbd's queue waits for its requests only.
   */
  default boolean wakeable() {
    return false;
  }

  /**
   * Ends the wait of the {@link #reap} under way, or if none is waiting, of the next one: it returns the completions
   * that have arrived, fewer than {@code min} (even none) if need be, so that its thread can queue a request another
   * thread handed it meanwhile. Thread-safe: the one method another thread may call, while the queue is open. Best
   * effort: if the wake-up cannot be sent, the wait ends with its next completion. Only where {@link #wakeable}.
   */
  default void wake() {
    throw new UnsupportedOperationException("wake: " + this + " is not wakeable");
  }

  /**
   * Whether {@link #awaitReadable} works: this queue waits for its requests and for a descriptor's readiness in one
   * place (a file's queue under io_uring). False by default.
   */
  default boolean watches() {
    return false;
  }

  /**
   * Waits until {@code fd} (a socket) is readable (data, end of stream or an error) or, while requests are in flight,
   * until at least one completes, whichever comes first, handing each completion that has arrived to {@code done}, as
   * {@link #reap} does; with none in flight it waits for {@code fd} alone. What this queue holds to watch {@code fd}
   * stays armed until it fires, across calls: a caller that gets false calls again before it reads {@code fd}, so
   * that no readiness is seen twice, and keeps {@code fd} open until it got true or closed this queue. Only where
   * {@link #watches}.
   *
   * @return whether {@code fd} is readable now: a read of it will not wait
   * @throws IOException only for a failure of the queue itself, or what {@code done} throws
   */
  default boolean awaitReadable(int fd, Completion done) throws IOException {
    throw new UnsupportedOperationException("awaitReadable: " + this + " does not watch descriptors");
  }

  /** The number of requests queued and not yet reaped. */
  int inFlight();

  /** One finished request. */
  @FunctionalInterface
  interface Completion {
    /**
     * @param tag the request's tag
     * @param error null on success, else what the device's call would have thrown
     */
    void completed(int tag, IOException error) throws IOException;
  }
}
