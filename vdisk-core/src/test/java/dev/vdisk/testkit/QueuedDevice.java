package dev.vdisk.testkit;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A device whose reads and writes (without flags) go through the asynchronous {@link RequestQueue} of the device
 * below, one queue per calling thread, each request queued and reaped alone: how the contract suite runs over that
 * path. Aligned requests in heap buffers are copied through aligned direct ones, so that they reach the kernel
 * asynchronously rather than the queue's synchronous fall-back. Fails if the device below has no asynchronous queue.
 */
public final class QueuedDevice extends FilterDevice {
  private static final int ALIGN = 4096;
  private final Map<Thread, RequestQueue> queues = new ConcurrentHashMap<>();

  public QueuedDevice(BlockDevice next) {
    super(next);
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    if (bounce(offset, dst)) {
      ByteBuffer tmp = DirectBuffers.aligned(dst.remaining());
      run(q -> q.read(offset, tmp, 0));
      dst.put(tmp.flip());
    } else {
      run(q -> q.read(offset, dst, 0));
    }
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    if (!flags.isEmpty()) {
      next.write(offset, src, flags);
    } else if (bounce(offset, src)) {
      ByteBuffer tmp = DirectBuffers.aligned(src.remaining());
      tmp.put(0, src, src.position(), src.remaining());
      run(q -> q.write(offset, tmp, 0));
      src.position(src.limit());
    } else {
      run(q -> q.write(offset, src, 0));
    }
  }

  private static boolean bounce(long offset, ByteBuffer buf) {
    return !buf.isDirect() && buf.hasRemaining() && ((offset | buf.remaining()) & (ALIGN - 1)) == 0;
  }

  private interface Queueing {
    void queue(RequestQueue q) throws IOException;
  }

  private void run(Queueing request) throws IOException {
    RequestQueue q = queues.get(Thread.currentThread());
    if (q == null) {
      q = RequestQueues.asynchronous(next, 4);
      if (q == null) {
        throw new AssertionError("no asynchronous queue on " + next);
      }
      queues.put(Thread.currentThread(), q);
    }
    request.queue(q);
    IOException[] failure = new IOException[1];
    if (q.reap(1, (tag, e) -> failure[0] = e) != 1) {
      throw new AssertionError("one request queued, not one completed");
    }
    if (failure[0] != null) {
      throw failure[0];
    }
  }

  @Override
  public void close() throws IOException {
    for (RequestQueue q : queues.values()) {
      q.close();
    }
    queues.clear();
    next.close();
  }

  @Override
  public String toString() {
    return "Queued(" + next + ")";
  }
}
