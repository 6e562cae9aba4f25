package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * The target of {@code qemu-img convert -r}: QEMU throttles the target's writes to the rate (its bps-write limit),
 * zero writes and copies included, reads and flushes not. Closing it leaves the device below open.
 */
public final class RateLimitedWrites extends FilterDevice {
  private final RateLimit limit;

  public RateLimitedWrites(BlockDevice target, long bytesPerSecond) {
    super(target);
    this.limit = new RateLimit(bytesPerSecond, "convert");
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    limit.await(src.remaining());
    next.write(offset, src, flags);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    limit.await(length);
    next.writeZeroes(offset, length, flags);
  }

  /** Passed on (the device below may copy in the kernel); accounted once copied, as a refused copy is written instead. */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    boolean copied = next.writeFrom(offset, src);
    if (copied) {
      limit.await(src.length());
    }
    return copied;
  }

  @Override
  public void close() {}
}
