package dev.vdisk.io;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.Images;
import dev.vdisk.testkit.BlockDeviceContractTest;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.io.TempDir;

/** FileDevice under each of QEMU's cache modes, and the raw format over it, keep the BlockDevice contract. */
class FileDeviceContractTest {
  @TempDir static Path dir;
  private static int files;

  static Path sparseFile(long size) throws IOException {
    Path p = dir.resolve("contract-" + files++ + ".raw");
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.truncate(0);
      ch.write(java.nio.ByteBuffer.allocate(1), size - 1);
    }
    return p;
  }

  abstract static class FileContract extends BlockDeviceContractTest {
    abstract CacheMode mode();

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return Images.applyCacheSwitches(FileDevice.open(sparseFile(size), FileOptions.of(mode(), false)), mode());
    }
  }

  abstract static class RawContract extends BlockDeviceContractTest {
    abstract CacheMode mode();

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return Images.open(sparseFile(size), "raw", FileOptions.of(mode(), false)).device();
    }
  }

  @Nested class Writeback extends FileContract { CacheMode mode() { return CacheMode.WRITEBACK; } }
  @Nested class Writethrough extends FileContract { CacheMode mode() { return CacheMode.WRITETHROUGH; } }
  @Nested class None extends FileContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class Directsync extends FileContract { CacheMode mode() { return CacheMode.DIRECTSYNC; } }
  @Nested class Unsafe extends FileContract { CacheMode mode() { return CacheMode.UNSAFE; } }
  @Nested class RawWriteback extends RawContract { CacheMode mode() { return CacheMode.WRITEBACK; } }
  @Nested class RawNone extends RawContract { CacheMode mode() { return CacheMode.NONE; } }
}
