package dev.vdisk.io;

import dev.vdisk.io.linux.FallocateMode;
import dev.vdisk.io.linux.FileIo;
import dev.vdisk.io.linux.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * {@code aio=threads}: the JDK's positional calls on the calling thread, fdatasync through {@link FileChannel#force},
 * fallocate on the native descriptor. Closes the channel only; the native file belongs to the device.
 */
final class ChannelIo implements FileIo {
  private final FileChannel channel;
  private final NativeFile file;

  ChannelIo(FileChannel channel, NativeFile file) {
    this.channel = channel;
    this.file = file;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return channel.read(dst, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    return channel.write(src, position);
  }

  @Override
  public void fdatasync() throws IOException {
    channel.force(false);
  }

  @Override
  public void fallocate(FallocateMode mode, long offset, long length) throws IOException {
    file.fallocate(mode, offset, length);
  }

  /** The JDK channel the bytes move through (for {@link FileChannel#transferTo}). */
  FileChannel channel() {
    return channel;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
