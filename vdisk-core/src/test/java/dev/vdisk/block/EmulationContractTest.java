package dev.vdisk.block;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.testkit.BlockDeviceContractTest;

/**
 * A layer that can only read, write and flush: the guard must emulate zeroes, FUA and extents, and
 * split transfers larger than the layer's small maximum.
 */
class EmulationContractTest extends BlockDeviceContractTest {
  static final Capabilities BARE =
      new Capabilities(false, Support.NATIVE, Support.NONE, Support.NONE, Support.NONE, Support.NONE, Support.NONE);

  @Override
  protected BlockDevice newDevice(long size) {
    return new FilterDevice(new MemoryDevice(size)) {
      @Override
      public Capabilities capabilities() {
        return BARE;
      }

      @Override
      public BlockLimits limits() {
        return new BlockLimits(1, 65536, 1, 1);
      }

      @Override
      public void writeZeroes(long offset, long length, java.util.Set<WriteFlag> flags) {
        throw new AssertionError("the guard must not call writeZeroes on a layer without it");
      }

      @Override
      public void discard(long offset, long length) {
        throw new AssertionError("the guard must not call discard on a layer without it");
      }

      @Override
      public void read(long offset, java.nio.ByteBuffer dst) throws java.io.IOException {
        if (dst.remaining() > 65536) {
          throw new AssertionError("transfer of " + dst.remaining() + " beyond maxTransfer");
        }
        super.read(offset, dst);
      }

      @Override
      public void write(long offset, java.nio.ByteBuffer src, java.util.Set<WriteFlag> flags) throws java.io.IOException {
        if (src.remaining() > 65536 || !flags.isEmpty()) {
          throw new AssertionError("write of " + src.remaining() + " with " + flags + " reached a bare layer");
        }
        super.write(offset, src, flags);
      }
    };
  }
}
