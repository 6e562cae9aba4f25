package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Set;

/**
 * A file on a host disk that fills up ({@link Qcow2DiskFullIT}): there is room for {@link #capacity} more 4 KiB
 * blocks, and none for blocks at or past byte {@link #limit} of the file (a disk whose free space runs out exactly
 * where the file reaches that size). Like a file system, a write that touches a block the file has never held uses
 * one up, also inside the file (holes take space when filled); a write that needs a block there is no room for writes
 * what fits before it (as pwrite's short count does) and fails with ENOSPC. Blocks once held stay held.
 */
final class FullDisk extends FilterDevice {
  private static final int BLOCK = 4096;
  private final Set<Long> held = new HashSet<>();
  /** Blocks the disk has room for: lowered to fill it, raised to free space. */
  volatile long capacity;
  /** No block at or past this byte offset of the file has room. */
  volatile long limit = Long.MAX_VALUE;

  FullDisk(BlockDevice file, long capacity) throws IOException {
    super(file);
    this.capacity = capacity;
    for (long b = 0; b * BLOCK < file.size(); b++) {
      held.add(b);
    }
  }

  @Override
  public synchronized void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    long end = offset + src.remaining();
    for (long b = offset / BLOCK; b * BLOCK < end; b++) {
      if (!held.contains(b)) {
        if (capacity == 0 || b * BLOCK >= limit) {
          long fits = Math.max(offset, b * BLOCK) - offset;
          if (fits > 0) {
            next.write(offset, src.slice(src.position(), (int) fits), flags);
          }
          throw new BlockDeviceException(BlockError.ENOSPC, "No space left on device");
        }
        held.add(b);
        capacity--;
      }
    }
    next.write(offset, src, flags);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    write(offset, ByteBuffer.allocate(Math.toIntExact(length)), flags);
  }
}
