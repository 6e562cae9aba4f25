package dev.vdisk.io;

import dev.vdisk.io.linux.FileIo;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Positional I/O through the page cache (a FileIo of either aio mode): any offset, length and buffer. */
final class BufferedPath implements DataPath {
  private final FileIo io;

  BufferedPath(FileIo io) {
    this.io = io;
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
