package dev.vdisk.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * A layer's {@link RequestQueue} over the queue of the layer below, for {@link BlockDevice#queue}: requests pass down unchanged unless a subclass checks or
 * translates them first. A request the layer refuses, or runs itself ({@link #runNow}), completes at the next {@link
 * #reap} without reaching the layer below.
 */
public abstract class ForwardingQueue implements RequestQueue {
  private final RequestQueue below;
  /** Completions of requests that did not go below, and of those {@link #runNow} reaped early. */
  private final ArrayDeque<Done> ready = new ArrayDeque<>();

  private record Done(int tag, IOException error) {}

  /** A request run synchronously by the layer itself. */
  @FunctionalInterface
  public interface Call {
    void run() throws IOException;
  }

  protected ForwardingQueue(RequestQueue below) {
    this.below = below;
  }

  /** The queue of the layer below. */
  protected final RequestQueue below() {
    return below;
  }

  /** Completes the request {@code tag} with {@code error} at the next reap, as if it had failed below. */
  protected final void refuse(int tag, IOException error) {
    room();
    ready.add(new Done(tag, error));
  }

  /**
   * Runs the request {@code tag} synchronously through the layer's own call (one the queue below cannot take), after
   * the requests in flight below completed: a synchronous write may wait for overlapping writes in flight, which
   * only this queue's thread could reap. Its completion comes at the next reap.
   */
  protected final void runNow(int tag, Call call) throws IOException {
    room();
    reapBelow();
    runBeside(tag, call);
  }

  /**
   * Waits for every request in flight below; their completions come at the next {@link #reap}. For a layer that
   * must have nothing in flight below before it does something (runs a request itself, gives up a lock).
   */
  protected final void reapBelow() throws IOException {
    below.reap(below.inFlight(), (t, e) -> ready.add(new Done(t, e)));
  }

  /**
   * Runs the request {@code tag} synchronously through the layer's own call without waiting for the requests in
   * flight below: for a call that never waits for other requests (a read). Its completion comes at the next reap.
   */
  protected final void runBeside(int tag, Call call) {
    room();
    IOException error = null;
    try {
      call.run();
    } catch (IOException e) {
      error = e;
    }
    ready.add(new Done(tag, error));
  }

  private void room() {
    if (inFlight() >= depth()) {
      throw new IllegalStateException("request queue: " + depth() + " requests in flight (expected: reap first)");
    }
  }

  @Override
  public int depth() {
    return below.depth();
  }

  @Override
  public boolean asynchronous() {
    return below.asynchronous();
  }

  @Override
  public void read(long offset, ByteBuffer dst, int tag) throws IOException {
    below.read(offset, dst, tag);
  }

  @Override
  public void write(long offset, ByteBuffer src, int tag) throws IOException {
    below.write(offset, src, tag);
  }

  @Override
  public int reap(int min, Completion done) throws IOException {
    int n = ready.size(); // requests the completions refuse wait for the next reap
    for (int i = 0; i < n; i++) {
      Done r = ready.poll();
      if (r == null) {
        n = i; // a completion reaped this queue again and took the rest
        break;
      }
      done.completed(r.tag(), r.error());
    }
    return n + below.reap(Math.max(0, min - n), done);
  }

  @Override
  public boolean wakeable() {
    return below.wakeable();
  }

  @Override
  public void wake() {
    below.wake();
  }

  @Override
  public boolean watches() {
    return below.watches();
  }

  /** {@inheritDoc} Completions of requests that did not go below come first, without waiting. */
  @Override
  public boolean awaitReadable(int fd, Completion done) throws IOException {
    if (!ready.isEmpty()) {
      reap(0, done);
      return false; // the caller asks again, which waits below
    }
    return below.awaitReadable(fd, done);
  }

  @Override
  public int inFlight() {
    return ready.size() + below.inFlight();
  }

  @Override
  public void close() throws IOException {
    ready.clear();
    below.close();
  }
}
