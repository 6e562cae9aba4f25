package dev.vdisk.io;

import dev.vdisk.io.linux.FileIo;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Positional I/O through the page cache (a FileIo of either aio mode): any offset, length and buffer. Where asked to,
 * writes of {@value #SERIAL_MIN} bytes or more go one at a time ({@link SerialWrites}): the kernel makes buffered writes
 * into one regular file one at a time anyway, and its waiters spin. Smaller writes hold the kernel's lock for a few
 * microseconds, less than handing a write to another thread and waking the caller costs, so they go straight in.
 */
final class BufferedPath implements DataPath {
  /** The smallest write that goes through {@link SerialWrites}: about 40 us of copying into 1-2 MiB folios. */
  static final int SERIAL_MIN = 256 << 10;

  private final FileIo io;
  /** One-at-a-time large writes, or null where writes all go straight to the kernel. */
  private final SerialWrites serial;

  /**
   * @param serialLargeWrites whether writes of {@value #SERIAL_MIN} bytes or more go one at a time: for a regular file
   *     written by positional calls from many threads ({@code aio=threads}); not for a block device, whose buffered
   *     writes the kernel does not serialise, nor under io_uring, where each write would then also wait for its
   *     hand-off to an io-wq worker, nor for an NBD export, whose writers also read their sockets (see FileDevice's
   *     constructor)
   */
  BufferedPath(FileIo io, boolean serialLargeWrites) {
    this.io = io;
    this.serial = serialLargeWrites ? new SerialWrites(this::writeNow) : null;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    long pos = offset;
    while (dst.hasRemaining()) {
      int n = io.read(dst, pos);
      if (n < 0) {
        DataPath.zeroRest(dst);
        return;
      }
      pos += n;
    }
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    if (serial != null && src.remaining() >= SERIAL_MIN) {
      serial.write(offset, src);
    } else {
      writeNow(offset, src);
    }
  }

  private void writeNow(long offset, ByteBuffer src) throws IOException {
    long pos = offset;
    while (src.hasRemaining()) {
      pos += io.write(src, pos);
    }
  }

  /** The page cache serialises partial-block updates itself; nothing to order. */
  @Override
  public boolean mutate(long offset, long length, Mutation change) throws IOException {
    return change.run();
  }
}
