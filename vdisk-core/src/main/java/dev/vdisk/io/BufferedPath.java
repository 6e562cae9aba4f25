package dev.vdisk.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Positional I/O through the page cache: any offset, length and buffer. */
final class BufferedPath implements DataPath {
  private final FileChannel channel;

  BufferedPath(FileChannel channel) {
    this.channel = channel;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    long pos = offset;
    while (dst.hasRemaining()) {
      int n = channel.read(dst, pos);
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
      pos += channel.write(src, pos);
    }
  }

  /** The page cache serialises partial-block updates itself; nothing to order. */
  @Override
  public boolean mutate(long offset, long length, Mutation change) throws IOException {
    return change.run();
  }
}
