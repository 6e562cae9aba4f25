package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Reads the same range of two devices (a rebase's old and new backing chains) ahead of its comparison: each range
 * is read from both devices at once on virtual threads, up to {@code ahead} ranges before the caller takes them, in
 * the order asked. A device given as null reads as zeroes.
 *
 * <p>Memory: {@code ahead + 1} pairs of direct buffers of {@code chunkSize} bytes. A failed read is thrown when its
 * chunk is taken.
 */
final class ChunkReader implements AutoCloseable {
  /**
   * A range read from both devices.
   *
   * @param old the first device's bytes, position 0 and limit the range's length
   * @param now the second device's bytes, likewise
   */
  record Chunk(long offset, boolean oldIsZero, ByteBuffer old, ByteBuffer now, ChunkReader owner) {
    /** Gives the buffers back for the next read; the chunk must not be used after. */
    void release() {
      owner.pool.add(new ByteBuffer[] {old, now});
    }
  }

  private record Pending(long offset, boolean oldIsZero, ByteBuffer[] pair, Future<?> old, Future<?> now) {}

  private final int ahead;
  private final BlockingQueue<ByteBuffer[]> pool;
  private final Queue<Pending> pending = new ArrayDeque<>();
  private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

  ChunkReader(int ahead, int chunkSize) {
    this.ahead = ahead;
    this.pool = new ArrayBlockingQueue<>(ahead + 1);
    for (int i = 0; i <= ahead; i++) {
      pool.add(new ByteBuffer[] {ByteBuffer.allocateDirect(chunkSize), ByteBuffer.allocateDirect(chunkSize)});
    }
  }

  /**
   * Starts reading {@code length} bytes at {@code offset} of {@code old} and {@code now} (null: zeroes). Returns the
   * oldest chunk, read, if {@code ahead} were already in flight, else null. Release every chunk taken before the next
   * call.
   *
   * @throws IOException the failure of the oldest chunk's read, or an interrupt
   */
  Chunk read(long offset, int length, BlockDevice old, BlockDevice now) throws IOException {
    Chunk oldest = pending.size() >= ahead ? next() : null;
    ByteBuffer[] pair;
    try {
      pair = pool.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("rebase: interrupted");
    }
    pair[0].clear().limit(length);
    pair[1].clear().limit(length);
    pending.add(new Pending(offset, old == null, pair, threads.submit(() -> fill(old, offset, pair[0])),
        threads.submit(() -> fill(now, offset, pair[1]))));
    return oldest;
  }

  /** The oldest chunk, once read; null if none is in flight. */
  Chunk next() throws IOException {
    Pending p = pending.poll();
    if (p == null) {
      return null;
    }
    try {
      p.old().get();
      p.now().get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("rebase: interrupted");
    } catch (ExecutionException e) {
      switch (e.getCause()) {
        case IOException io -> throw io;
        case RuntimeException r -> throw r;
        case Error err -> throw err;
        default -> throw new IOException(e.getCause());
      }
    }
    return new Chunk(p.offset(), p.oldIsZero(), p.pair()[0].flip(), p.pair()[1].flip(), this);
  }

  /** Waits for the reads in flight to end (their results are dropped). */
  @Override
  public void close() {
    threads.close();
  }

  /** Reads {@code dst}'s remaining bytes from {@code device} at {@code offset}, or zeroes for no device. */
  private static Void fill(BlockDevice device, long offset, ByteBuffer dst) throws IOException {
    if (device == null) {
      while (dst.remaining() >= 8) {
        dst.putLong(0);
      }
      while (dst.hasRemaining()) {
        dst.put((byte) 0);
      }
    } else {
      device.read(offset, dst.duplicate());
      dst.position(dst.limit());
    }
    return null;
  }
}
