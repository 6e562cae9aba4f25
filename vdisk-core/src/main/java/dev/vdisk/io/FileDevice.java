package dev.vdisk.io;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Set;

/**
 * A host regular file or block device as a {@link BlockDevice}. PROVISIONAL: plain FileChannel I/O;
 * O_DIRECT, native discard/zero/extents and image locks are being added.
 */
public final class FileDevice implements BlockDevice {
  private final Path path;
  private final FileOptions options;
  private final FileChannel channel;
  private volatile long size;

  private FileDevice(Path path, FileOptions options, FileChannel channel) throws IOException {
    this.path = path;
    this.options = options;
    this.channel = channel;
    this.size = channel.size();
  }

  /** Opens {@code path} as described by {@code options}. */
  public static FileDevice open(Path path, FileOptions options) throws IOException {
    FileChannel ch = options.readOnly()
        ? FileChannel.open(path, StandardOpenOption.READ)
        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    return new FileDevice(path, options, ch);
  }

  public Path path() {
    return path;
  }

  public FileOptions options() {
    return options;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public Capabilities capabilities() {
    return new Capabilities(options.readOnly(), Support.NATIVE, Support.NONE, Support.NONE, Support.NONE, Support.NONE, Support.NONE);
  }

  @Override
  public BlockLimits limits() {
    return BlockLimits.UNALIGNED;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    long pos = offset;
    while (dst.hasRemaining()) {
      int n = channel.read(dst, pos);
      if (n < 0) {
        dst.put(new byte[dst.remaining()]);
        return;
      }
      pos += n;
    }
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    long pos = offset;
    while (src.hasRemaining()) {
      pos += channel.write(src, pos);
    }
  }

  @Override
  public void flush() throws IOException {
    channel.force(false);
  }

  @Override
  public void discard(long offset, long length) {}

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    throw new UnsupportedOperationException();
  }

  @Override
  public List<Extent> extents(long offset, long length) {
    return List.of(Extent.data(offset, length, offset));
  }

  @Override
  public void resize(long newSize) throws IOException {
    if (newSize < size) {
      channel.truncate(newSize);
    } else {
      channel.write(ByteBuffer.allocate(0), newSize);
      if (channel.size() < newSize) {
        channel.write(ByteBuffer.allocate(1), newSize - 1);
      }
    }
    size = newSize;
  }

  /**
   * Reserves or writes storage for {@code [offset, offset + length)} as {@code mode} says: FALLOC reserves
   * blocks without writing them (fallocate), FULL writes zeroes over holes; OFF does nothing.
   */
  public void preallocate(long offset, long length, dev.vdisk.format.Preallocation mode) throws IOException {
    if (mode == dev.vdisk.format.Preallocation.FULL) {
      ByteBuffer zero = ByteBuffer.allocateDirect(1 << 20);
      for (long pos = offset; pos < offset + length; ) {
        int n = (int) Math.min(zero.capacity(), offset + length - pos);
        write(pos, zero.clear().limit(n), Set.of());
        pos += n;
      }
    }
  }

  /** Bytes of host storage the file occupies (st_blocks * 512): qemu-img's {@code actual-size}. */
  public long allocatedBytes() throws IOException {
    return size;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  @Override
  public String toString() {
    return "FileDevice[" + path.getFileName() + ", cache=" + options.cache() + "]";
  }
}
