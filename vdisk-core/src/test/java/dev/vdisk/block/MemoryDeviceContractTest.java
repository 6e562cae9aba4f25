package dev.vdisk.block;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.testkit.BlockDeviceContractTest;

class MemoryDeviceContractTest extends BlockDeviceContractTest {
  @Override
  protected BlockDevice newDevice(long size) {
    return new MemoryDevice(size);
  }
}
