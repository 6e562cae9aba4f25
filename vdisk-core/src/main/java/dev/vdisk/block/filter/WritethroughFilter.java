package dev.vdisk.block.filter;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * QEMU's writethrough switch: every write completes only after a flush of the whole stack below, so
 * format metadata written on its behalf is durable too. FUA becomes redundant and is dropped.
 *
 * <p>The flush is a group commit ({@link GroupFlush}): a write is acknowledged after a flush that started after the
 * write completed has completed successfully; concurrent writers share such flushes, and where the device below
 * merges concurrent flushes several run at once, so that a write that completes while one runs need not wait for it
 * to end before its own starts; so is {@link #flush()}. {@code GroupCommitTest}
 * proves on a simulated disk that every acknowledged write survives a power loss, and that each acknowledgement
 * follows such a flush.
 */
public final class WritethroughFilter extends FilterDevice {
  private final GroupFlush flushes;

  /** Flushes {@code next} after every write to it, one flush at a time, shared by the writers waiting for it. */
  public WritethroughFilter(BlockDevice next) {
    this(next, 1);
  }

  /**
   * Flushes {@code next} after every write to it, with up to {@code concurrentFlushes} (at least 1) flushes at once:
   * more than one where {@code next}'s flushes run concurrently and the host merges them (a host file), one where
   * {@code next} serializes them (a format that holds a lock across its flush), as {@link GroupFlush} explains.
   */
  public WritethroughFilter(BlockDevice next, int concurrentFlushes) {
    this(next, concurrentFlushes, concurrentFlushes);
  }

  /**
   * As {@link #WritethroughFilter(BlockDevice, int)}, with at most {@code neighbourFlushes} (1 to {@code
   * concurrentFlushes}) of them started by writes whose pages touch those of writes waiting for a flush: fewer where
   * {@code next}'s concurrent flushes of adjacent pages contend (a file through the host's page cache); such a write
   * joins the next flush instead, as {@link GroupFlush} explains.
   */
  public WritethroughFilter(BlockDevice next, int concurrentFlushes, int neighbourFlushes) {
    super(next);
    this.flushes = new GroupFlush(next, concurrentFlushes, neighbourFlushes);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    flushed(offset, src.remaining(), () -> next.write(offset, src, WriteFlag.withoutFua(flags)));
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    flushed(offset, length, () -> next.writeZeroes(offset, length, WriteFlag.withoutFua(flags)));
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    flushed(offset, length, () -> next.discard(offset, length));
  }

  /** A change to the device below, made and then acknowledged by the group commit. */
  private interface Change {
    void run() throws IOException;
  }

  /**
   * Runs {@code change} of {@code [offset, offset + length)} and, if it succeeded, returns once a flush that started
   * after it completed has completed.
   */
  private void flushed(long offset, long length, Change change) throws IOException {
    flushes.writeStarted();
    boolean succeeded = false;
    try {
      change.run();
      succeeded = true;
    } finally {
      flushes.writeCompleted(offset, length, succeeded);
    }
  }

  @Override
  public void flush() throws IOException {
    flushes.flush();
  }

  /** Reads pass through unchanged, so do their host ranges. */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    return next.hostRanges(offset, length);
  }
}
