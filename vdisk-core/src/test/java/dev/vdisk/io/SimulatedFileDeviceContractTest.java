package dev.vdisk.io;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.Images;
import dev.vdisk.testkit.BlockDeviceContractTest;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import org.junit.jupiter.api.Nested;

/**
 * FileDevice on a {@link SimulatedHostFile} (over the crash simulator) keeps the BlockDevice contract under the cache
 * modes the crash tests use, with 512-byte and 4 KiB O_DIRECT alignment: the simulated host enforces O_DIRECT's
 * rules, so this also shows that FileDevice's bouncing meets them for requests of every shape.
 */
class SimulatedFileDeviceContractTest {
  abstract static class SimulatedContract extends BlockDeviceContractTest {
    abstract CacheMode mode();

    abstract int alignment();

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      CrashingDevice disk = new CrashingDevice(new MemoryDevice(size));
      FileDevice file = SimulatedHostFile.fileDevice(disk, "simulated.raw", FileOptions.of(mode(), false), alignment());
      return Images.applyCacheSwitches(file, mode());
    }
  }

  @Nested class None4k extends SimulatedContract {
    CacheMode mode() { return CacheMode.NONE; }
    int alignment() { return 4096; }
  }

  @Nested class Directsync512 extends SimulatedContract {
    CacheMode mode() { return CacheMode.DIRECTSYNC; }
    int alignment() { return 512; }
  }

  @Nested class Writeback extends SimulatedContract {
    CacheMode mode() { return CacheMode.WRITEBACK; }
    int alignment() { return 4096; }
  }
}
