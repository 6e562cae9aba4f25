package dev.vdisk.io.linux;

import java.io.Closeable;
import java.io.IOException;

/**
 * One thread's asynchronous requests on an O_DIRECT file descriptor of its own: Linux AIO ({@link LinuxAio}) or an
 * io_uring ({@link UringAio}). Requests are prepared in numbered slots, handed to the kernel by {@link #submit} and
 * completed by {@link #poll} (what has arrived, without waiting) or {@link #reap} (waiting for a number of them).
 *
 * <p>Not thread-safe: one thread prepares, submits and reaps. The caller keeps every buffer it handed in alive and
 * untouched until its slot completes; slots are the caller's to number, from 0 to {@code depth() - 1}, and a slot is
 * reused only after its completion was handed over. Each completion is handed over exactly once.
 */
public interface AsyncIo extends Closeable {
  /** The number of slots: the most requests in flight at once. */
  int depth();

  /**
   * Prepares a read ({@code write} false) or write of {@code length} bytes at {@code offset} to or from native memory
   * at {@code address} in {@code slot}; nothing need reach the kernel before {@link #submit}. O_DIRECT's rules apply:
   * a request the kernel cannot take completes with a negated errno.
   */
  void prepare(int slot, boolean write, long address, int length, long offset);

  /**
   * Hands the prepared requests to the kernel. Those it cannot take now stay prepared for the next call; one it
   * refuses at submission completes through {@code refused} with the negated errno, or later with its completion.
   *
   * @return the number the kernel took
   */
  int submit(Completion refused) throws IOException;

  /** Requests prepared and not yet taken by the kernel. */
  int unsubmitted();

  /**
   * Waits until at least {@code min} submitted requests have completed and hands each completion that has arrived to
   * {@code done}.
   *
   * @return the number handed over
   */
  int reap(int min, Completion done) throws IOException;

  /** Hands every completion that has arrived to {@code done} without waiting; returns how many. */
  int poll(Completion done) throws IOException;

  /**
   * {@link #submit} and {@link #reap} in one step where the kernel has one call for both: hands the prepared requests
   * to the kernel and, if it takes all of them, waits until at least {@code min} requests have completed, counting the
   * prepared ones as submitted ({@code min} at most the requests in flight once they are); if it takes fewer, returns
   * without waiting, leaving the rest prepared. Hands each completion that has arrived to {@code done} either way.
   * The default submits and polls: it never waits.
   *
   * @return the number of completions handed over
   */
  default int submitAndReap(int min, Completion refused, Completion done) throws IOException {
    submit(refused);
    return poll(done);
  }

  /**
   * Whether {@link #wake} works here: another thread can end the owner's wait in a reap (both implementations, through
   * an eventfd: {@link WakeFd}). False by default.
   */
  default boolean wakeable() {
    return false;
  }

  /**
   * Ends the owner's wait in {@link #reap} or {@link #submitAndReap} now, or if it is not waiting, in its next one:
   * that call returns what has completed, fewer than asked for if need be, and {@link #woken} says so. Thread-safe:
   * the one method another thread may call. Only where {@link #wakeable}.
   *
   * @throws IOException if the wake-up cannot be sent (the wait then ends with its next completion)
   */
  default void wake() throws IOException {
    throw new UnsupportedOperationException("wake: " + this + " is not wakeable");
  }

  /** The owner: whether a {@link #wake} has ended (or would end) a reap since the last call; clears it. */
  default boolean woken() {
    return false;
  }

  /**
   * Whether {@link #watch} works: a descriptor's readiness ends the owner's wait as a completion does (io_uring).
   * False by default.
   */
  default boolean watches() {
    return false;
  }

  /**
   * The owner: until it fires, the next waits in {@link #reap} or {@link #submitAndReap} also end when {@code fd}
   * is readable (data, end of stream or an error), as a {@link #wake} ends them, and then {@link #readable} says so.
   * One-shot, and a no-op while one is armed; it reaches the kernel with the next submission. {@code fd} stays open
   * until it fired or this queue is closed. Only where {@link #watches}.
   */
  default void watch(int fd) {
    throw new UnsupportedOperationException("watch: " + this + " does not watch descriptors");
  }

  /** The owner: whether the {@link #watch} fired since the last call; clears it. */
  default boolean readable() {
    return false;
  }

  /** The system call named in a failed request's message: {@code io_submit} or {@code io_uring}. */
  String call();

  /** Waits for the requests in flight where the kernel does, tears the context down and closes the descriptor. */
  @Override
  void close() throws IOException;

  /** Receives one completion: the slot and the kernel's result (bytes moved, or a negated errno). */
  @FunctionalInterface
  interface Completion {
    void completed(int slot, long result) throws IOException;
  }

  /** A completion's negative {@code result} as the exception a synchronous call would have thrown. */
  static ErrnoException failure(String call, String target, long result) {
    return new ErrnoException(call, target, (int) -result);
  }
}
