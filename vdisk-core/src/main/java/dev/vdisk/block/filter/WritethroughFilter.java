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
 * write completed, and concurrent writers share such flushes instead of each calling fdatasync; so is {@link
 * #flush()}. {@code GroupCommitTest} proves on a simulated disk that every acknowledged write survives a power loss.
 */
public final class WritethroughFilter extends FilterDevice {
  private final GroupFlush flushes;

  /** Flushes {@code next} after every write to it. */
  public WritethroughFilter(BlockDevice next) {
    super(next);
    this.flushes = new GroupFlush(next);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    next.write(offset, src, WriteFlag.withoutFua(flags));
    flushes.flush();
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    next.writeZeroes(offset, length, WriteFlag.withoutFua(flags));
    flushes.flush();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    next.discard(offset, length);
    flushes.flush();
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
