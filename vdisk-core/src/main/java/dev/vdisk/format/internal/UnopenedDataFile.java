package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The external data file of an image opened for its own facts (qemu-img info): QEMU does not open it there
 * (BDRV_O_NO_IO), so a missing or moved data file does not stop {@code info}, which names it. Every I/O is refused
 * with ENOTSUP; its size is 0.
 */
record UnopenedDataFile(Path path) implements BlockDevice {
  @Override
  public long size() {
    return 0;
  }

  @Override
  public Capabilities capabilities() {
    return Capabilities.ALL_NATIVE;
  }

  @Override
  public BlockLimits limits() {
    return BlockLimits.UNALIGNED;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    throw refused();
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    throw refused();
  }

  @Override
  public void flush() throws IOException {
    throw refused();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    throw refused();
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    throw refused();
  }

  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    throw refused();
  }

  @Override
  public void close() {}

  private BlockDeviceException refused() {
    return new BlockDeviceException(BlockError.ENOTSUP, "external data file " + path
        + ": not opened (the image was opened for its facts only, as qemu-img info opens it)");
  }
}
