package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.internal.Images;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.BlockDeviceContractTest;
import dev.vdisk.testkit.QueuedDevice;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Writable qcow2 images (made by vdisk, which writes qemu-img's bytes: {@code Qcow2CreateInteropIT}) keep the contract every BlockDevice keeps (random operations against a
 * model, concurrent writers, zeroes, extents), for several layouts (extended L2, external data files, raw or not)
 * and cache modes, and through a writable image's queue under cache=none ({@link WritableImageQueue}: reads of data
 * clusters and overwrites of owned ones go to the file's Linux AIO queue, the rest runs synchronously).
 */
class Qcow2ContractIT {
  // Every case makes its image in a folder of its own and the verdicts hold no timing: the layouts and their cases run
  // side by side (their flushes and FUA writes wait on the disk), as vdisk-core's failsafe configuration allows.
  @Execution(ExecutionMode.CONCURRENT)
  abstract static class Qcow2Contract extends BlockDeviceContractTest {
    @TempDir Path dir;

    abstract String options();

    CacheMode cache() {
      return CacheMode.WRITEBACK;
    }

    /** io_uring (threads where the kernel refuses it); the cases below that say threads pin the default path. */
    Aio aio() {
      return Aio.IO_URING;
    }

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      CrashImages.make(dir, "c.qcow2", options(), size);
      return Images.open(dir.resolve("c.qcow2"), "qcow2", FileOptions.of(cache(), false).withAio(aio())).device();
    }
  }

  @Nested
  class Default extends Qcow2Contract {
    @Override
    String options() {
      return "cluster_size=65536";
    }
  }

  @Nested
  class DefaultUnderThreads extends Default {
    @Override
    Aio aio() {
      return Aio.THREADS;
    }
  }

  @Nested
  class SmallClustersUnderCacheNoneAndThreads extends SmallClustersUnderCacheNone {
    @Override
    Aio aio() {
      return Aio.THREADS;
    }
  }

  @Nested
  class SmallClustersUnderCacheNone extends Qcow2Contract {
    @Override
    String options() {
      return "cluster_size=4096";
    }

    @Override
    CacheMode cache() {
      return CacheMode.NONE;
    }
  }

  @Nested
  class Version2 extends Qcow2Contract {
    @Override
    String options() {
      return "compat=0.10,cluster_size=16384";
    }
  }

  @Nested
  class ExtendedL2 extends Qcow2Contract {
    @Override
    String options() {
      return "extended_l2=on,cluster_size=32768";
    }
  }

  @Nested
  class ExtendedL2WithSectorSubclusters extends Qcow2Contract {
    @Override
    String options() {
      return "extended_l2=on,cluster_size=16384";
    }
  }

  @Nested
  class ExternalDataFile extends Qcow2Contract {
    @Override
    String options() {
      return "data_file=c.data";
    }
  }

  @Nested
  class RawExternalDataFileWithExtendedL2 extends Qcow2Contract {
    @Override
    String options() {
      return "data_file=c.data,data_file_raw=on,extended_l2=on,cluster_size=16384";
    }
  }

  @Nested
  class TinyClustersAndOneBitRefcounts extends Qcow2Contract {
    @Override
    String options() {
      return "cluster_size=512,refcount_bits=1";
    }
  }
  /** Reads and writes through the image's queue ({@link QueuedDevice}) under cache=none and aio=native. */
  @Nested
  class QueuedUnderCacheNone extends Qcow2Contract {
    @Override
    String options() {
      return "cluster_size=65536";
    }

    @Override
    CacheMode cache() {
      return CacheMode.NONE;
    }

    @Override
    Aio aio() {
      return Aio.NATIVE;
    }

    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      return new QueuedDevice(super.newDevice(size));
    }
  }

  @Nested
  class QueuedSmallClustersUnderCacheNone extends QueuedUnderCacheNone {
    @Override
    String options() {
      return "cluster_size=4096";
    }
  }

  @Nested
  class QueuedExtendedL2UnderCacheNone extends QueuedUnderCacheNone {
    @Override
    String options() {
      return "extended_l2=on,cluster_size=32768";
    }
  }

  @Nested
  class QueuedExternalDataFileUnderCacheNone extends QueuedUnderCacheNone {
    @Override
    String options() {
      return "data_file=c.data,extended_l2=on,cluster_size=16384";
    }
  }
}
