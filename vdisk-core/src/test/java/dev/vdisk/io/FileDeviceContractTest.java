package dev.vdisk.io;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.testkit.BlockDeviceContractTest;
import dev.vdisk.testkit.QueuedDevice;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * FileDevice under each of QEMU's cache modes and both data paths ({@code aio=threads} and {@code aio=io_uring}), and
 * the raw format over it, keep the BlockDevice contract; so do their asynchronous queues under {@code aio=native}
 * (Linux AIO) and {@code aio=io_uring} (a ring of the queue's own), through {@link QueuedDevice}. The io_uring cases are skipped, saying so, on a kernel that
 * refuses io_uring (the device would fall back to threads, which the threads cases test already).
 */
class FileDeviceContractTest {
  @TempDir static Path dir;
  private static final AtomicInteger files = new AtomicInteger();

  static Path sparseFile(long size) throws IOException {
    Path p = dir.resolve("contract-" + files.getAndIncrement() + ".raw");
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.truncate(0);
      ch.write(java.nio.ByteBuffer.allocate(1), size - 1);
    }
    return p;
  }

  /** The options of a case: its cache mode and aio mode (threads unless the case says io_uring). */
  static FileOptions options(CacheMode mode, Aio aio) {
    return FileOptions.of(mode, false).withAio(aio);
  }

  /** Skips the case unless {@code device} runs the aio mode it was asked for (closing it first). */
  static FileDevice requireAio(FileDevice device, Aio asked) throws IOException {
    if (asked != Aio.THREADS && device.aio() != asked) {
      device.close();
      Assumptions.abort((asked == Aio.IO_URING ? "io_uring" : "Linux AIO")
          + " is not available on this kernel: the device fell back to aio=threads");
    }
    return device;
  }

  // Every case works on a file of its own and the verdicts hold no timing: the modes and their cases run side by side
  // (their flushes and FUA writes wait on the disk), as vdisk-core's surefire configuration allows.
  @Execution(ExecutionMode.CONCURRENT)
  abstract static class FileContract extends BlockDeviceContractTest {
    abstract CacheMode mode();

    Aio aio() {
      return Aio.THREADS;
    }

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      FileDevice file = requireAio(FileDevice.open(sparseFile(size), options(mode(), aio())), aio());
      return Images.applyCacheSwitches(file, mode());
    }
  }

  abstract static class RawContract extends FileContract {
    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      OpenImage image = Images.open(sparseFile(size), "raw", options(mode(), aio()));
      requireAio(image.file(), aio());
      return image.device();
    }
  }

  /** A case over io_uring. */
  abstract static class UringContract extends FileContract {
    @Override
    Aio aio() {
      return Aio.IO_URING;
    }
  }

  /** A raw case over io_uring. */
  abstract static class UringRawContract extends RawContract {
    @Override
    Aio aio() {
      return Aio.IO_URING;
    }
  }

  /** Reads and writes through the Linux AIO queue of a file opened with aio=native. */
  abstract static class NativeContract extends FileContract {
    @Override
    Aio aio() {
      return Aio.NATIVE;
    }

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return new QueuedDevice(super.newDevice(size));
    }
  }

  /** The same through the raw format's and the guard's queues. */
  abstract static class NativeRawContract extends RawContract {
    @Override
    Aio aio() {
      return Aio.NATIVE;
    }

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return new QueuedDevice(super.newDevice(size));
    }
  }

  /** Reads and writes through the io_uring queue (a ring of the queue's own) of a file opened with aio=io_uring. */
  abstract static class UringQueuedContract extends UringContract {
    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return new QueuedDevice(super.newDevice(size));
    }
  }

  /** The same through the raw format's and the guard's queues. */
  abstract static class UringQueuedRawContract extends UringRawContract {
    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return new QueuedDevice(super.newDevice(size));
    }
  }

  @Nested class Writeback extends FileContract { CacheMode mode() { return CacheMode.WRITEBACK; } }
  @Nested class Writethrough extends FileContract { CacheMode mode() { return CacheMode.WRITETHROUGH; } }
  @Nested class None extends FileContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class Directsync extends FileContract { CacheMode mode() { return CacheMode.DIRECTSYNC; } }
  @Nested class Unsafe extends FileContract { CacheMode mode() { return CacheMode.UNSAFE; } }
  @Nested class RawWriteback extends RawContract { CacheMode mode() { return CacheMode.WRITEBACK; } }
  @Nested class RawNone extends RawContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class UringWriteback extends UringContract { CacheMode mode() { return CacheMode.WRITEBACK; } }
  @Nested class UringWritethrough extends UringContract { CacheMode mode() { return CacheMode.WRITETHROUGH; } }
  @Nested class UringNone extends UringContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class UringDirectsync extends UringContract { CacheMode mode() { return CacheMode.DIRECTSYNC; } }
  @Nested class UringUnsafe extends UringContract { CacheMode mode() { return CacheMode.UNSAFE; } }
  @Nested class UringRawWriteback extends UringRawContract { CacheMode mode() { return CacheMode.WRITEBACK; } }
  @Nested class UringRawNone extends UringRawContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class NativeNone extends NativeContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class NativeRawNone extends NativeRawContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class UringQueuedNone extends UringQueuedContract { CacheMode mode() { return CacheMode.NONE; } }
  @Nested class UringQueuedRawNone extends UringQueuedRawContract { CacheMode mode() { return CacheMode.NONE; } }
}
