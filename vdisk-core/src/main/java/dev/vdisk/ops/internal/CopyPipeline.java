package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Copies ranges from one device to another with up to {@code depth} copies in flight, each on its own virtual
 * thread, as QEMU's mirror job keeps up to 16 requests in flight: while one copy waits for its read, another writes.
 * The ranges a caller hands in must not overlap each other nor anything the caller writes meanwhile; both devices
 * must take concurrent requests (every {@link BlockDevice} does).
 *
 * <p>Memory: {@code depth} direct buffers of {@code maxIo} bytes. A failed copy stops the pipeline: the next
 * {@link #copy} or {@link #finish} throws its exception, and the copies already started still end before it does.
 */
final class CopyPipeline implements AutoCloseable {
  private final BlockDevice from;
  private final BlockDevice to;
  private final int maxIo;
  private final BlockingQueue<ByteBuffer> buffers;
  private final int depth;
  private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();

  CopyPipeline(BlockDevice from, BlockDevice to, int depth, int maxIo) {
    this.from = from;
    this.to = to;
    this.maxIo = maxIo;
    this.depth = depth;
    this.buffers = new ArrayBlockingQueue<>(depth);
    for (int i = 0; i < depth; i++) {
      buffers.add(ByteBuffer.allocateDirect(maxIo));
    }
  }

  /**
   * Starts copying {@code bytes} (at most {@code maxIo}) at {@code offset}, waiting first while {@code depth} copies
   * are in flight.
   *
   * @throws IOException the failure of an earlier copy, or an interrupt while waiting
   */
  void copy(long offset, int bytes) throws IOException {
    if (bytes > maxIo) {
      throw new IllegalArgumentException("copy of " + bytes + " bytes (expected: at most " + maxIo + ")");
    }
    ByteBuffer buf = take();
    if (failure.get() != null) {
      buffers.add(buf);
      rethrow();
    }
    threads.execute(() -> {
      try {
        from.read(offset, buf.clear().limit(bytes));
        to.write(offset, buf.flip(), Set.of());
      } catch (IOException | RuntimeException e) {
        failure.compareAndSet(null, e);
      } finally {
        buffers.add(buf);
      }
    });
  }

  /** Waits until every copy started has ended; throws the first failure. */
  void finish() throws IOException {
    ByteBuffer[] all = new ByteBuffer[depth];
    for (int i = 0; i < depth; i++) {
      all[i] = take();
    }
    buffers.addAll(List.of(all));
    rethrow();
  }

  /** Waits for the copies in flight to end (their failures are dropped: a caller closes after one). */
  @Override
  public void close() {
    threads.shutdown();
    try {
      threads.awaitTermination(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private ByteBuffer take() throws InterruptedIOException {
    try {
      return buffers.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("copy: interrupted");
    }
  }

  private void rethrow() throws IOException {
    Throwable t = failure.get();
    switch (t) {
      case null -> {}
      case IOException e -> throw e;
      case RuntimeException e -> throw e;
      default -> throw new UncheckedIOException(new IOException(t));
    }
  }
}
