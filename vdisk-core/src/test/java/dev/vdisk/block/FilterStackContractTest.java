package dev.vdisk.block;

import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.block.filter.NoFlushFilter;
import dev.vdisk.block.filter.WritethroughFilter;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.testkit.BlockDeviceContractTest;

/** Every filter keeps the contract of the device it wraps. */
class FilterStackContractTest extends BlockDeviceContractTest {
  @Override
  protected BlockDevice newDevice(long size) {
    return new WritethroughFilter(new NoFlushFilter(
        DetectZeroesFilter.wrap(new CountingFilter(new MemoryDevice(size)), DetectZeroesFilter.Mode.UNMAP)));
  }
}
