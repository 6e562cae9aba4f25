package dev.vdisk.block.filter;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * QEMU's {@code cache=unsafe} switch ({@code cache.no-flush}): flushes and FUA return at once without
 * reaching storage. Data reaches the disk only when the host kernel writes it back or the device is
 * closed; a host crash can lose any of it.
 */
public final class NoFlushFilter extends FilterDevice {
  /** Ignores the flushes meant for {@code next}. */
  public NoFlushFilter(BlockDevice next) {
    super(next);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    next.write(offset, src, WriteFlag.withoutFua(flags));
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    next.writeZeroes(offset, length, WriteFlag.withoutFua(flags));
  }

  @Override
  public void flush() {}

  /** Writes pass through unchanged, so do copies. */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    return next.writeFrom(offset, src);
  }

  /** Reads pass through unchanged, so do their host ranges. */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    return next.hostRanges(offset, length);
  }
}
