package dev.vdisk.block.filter;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/** Counts the requests that pass through it, by verb, and the bytes read and written. */
public final class CountingFilter extends FilterDevice {
  private final LongAdder reads = new LongAdder();
  private final LongAdder writes = new LongAdder();
  private final LongAdder fuaWrites = new LongAdder();
  private final LongAdder flushes = new LongAdder();
  private final LongAdder discards = new LongAdder();
  private final LongAdder zeroes = new LongAdder();
  private final LongAdder extentQueries = new LongAdder();
  private final LongAdder bytesRead = new LongAdder();
  private final LongAdder bytesWritten = new LongAdder();

  /** Counts the requests that reach {@code next}. */
  public CountingFilter(BlockDevice next) {
    super(next);
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int n = dst.remaining();
    next.read(offset, dst);
    reads.increment();
    bytesRead.add(n);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    int n = src.remaining();
    next.write(offset, src, flags);
    writes.increment();
    if (flags.contains(WriteFlag.FUA)) {
      fuaWrites.increment();
    }
    bytesWritten.add(n);
  }

  @Override
  public void flush() throws IOException {
    next.flush();
    flushes.increment();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    next.discard(offset, length);
    discards.increment();
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    next.writeZeroes(offset, length, flags);
    zeroes.increment();
  }

  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    extentQueries.increment();
    return next.extents(offset, length);
  }

  /** Reads so far. */
  public long reads() { return reads.sum(); }
  /** Writes so far, FUA ones included. */
  public long writes() { return writes.sum(); }
  /** Writes with FUA so far. */
  public long fuaWrites() { return fuaWrites.sum(); }
  /** Flushes so far. */
  public long flushes() { return flushes.sum(); }
  /** Discards so far. */
  public long discards() { return discards.sum(); }
  /** Write-zeroes requests so far. */
  public long zeroes() { return zeroes.sum(); }
  /** Extents queries so far. */
  public long extentQueries() { return extentQueries.sum(); }
  /** Bytes read so far. */
  public long bytesRead() { return bytesRead.sum(); }
  /** Bytes written so far. */
  public long bytesWritten() { return bytesWritten.sum(); }
}
