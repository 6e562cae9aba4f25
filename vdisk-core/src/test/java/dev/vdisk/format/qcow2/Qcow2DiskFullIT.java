package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A host disk that fills up under a qcow2 image being written: the ENOSPC reaches the caller as {@link
 * BlockError#ENOSPC}, the bytes on the full disk are a consistent image at that moment (no corruption by vdisk's
 * check or {@code qemu-img check}; everything flushed before reads back), and once space is freed the same open
 * image flushes and every write that succeeded reads back. vdisk makes the images, so the test runs where QEMU is not
 * installed; {@code qemu-img check} judges where it is (and must on CI).
 */
class Qcow2DiskFullIT {
  private static final int SIZE = 8 << 20;

  @TempDir static Path dir;
  private static boolean qemuHere;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  /**
   * A file on a disk with room for {@code capacity} more 4 KiB blocks: like a file system, a write that touches a
   * block the file has never held uses one up, also inside the file (holes take space when filled); a write that
   * needs more than is left takes what fits (as pwrite's short count does) and fails with ENOSPC.
   */
  private static final class FullDisk extends FilterDevice {
    private static final int BLOCK = 4096;
    private final Set<Long> held = new HashSet<>();
    volatile long capacity;

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
          if (capacity == 0) {
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

  /** qcow2 options and the free space of the disk under the image. */
  static Stream<Arguments> layouts() {
    return Stream.of(Arguments.of("cluster_size=4096", 200000L), Arguments.of("cluster_size=65536", 700000L),
        Arguments.of("cluster_size=512,refcount_bits=1", 90000L), Arguments.of("extended_l2=on,cluster_size=16384", 400000L),
        Arguments.of("compat=0.10,cluster_size=4096", 150000L));
  }

  /** A writable image made by vdisk with {@code options}, opened on a disk with {@code free} bytes left. */
  private record Session(CrashingDevice file, FullDisk disk, Qcow2Image image) {
    static Session open(String prefix, String options, long free) throws Exception {
      Path base = dir.resolve(prefix + options.hashCode() + ".qcow2");
      CrashImages.make(dir, base.getFileName().toString(), options, SIZE);
      MemoryDevice start = new MemoryDevice(Files.size(base));
      start.write(0, ByteBuffer.wrap(Files.readAllBytes(base)), Set.of());
      // Never crashed here: it is the device that grows like a file when written past its end.
      CrashingDevice file = new CrashingDevice(start);
      FullDisk disk = new FullDisk(file, free / 4096);
      Qcow2Image image = Qcow2Opener.open(disk,
          FileContext.of(base, new FileOptions(CacheMode.WRITEBACK, false, false, false)), new Qcow2Format(1 << 16));
      return new Session(file, disk, image);
    }
  }

  @ParameterizedTest(name = "{0}, {1} bytes free")
  @MethodSource("layouts")
  void enospcReachesTheCallerAndTheImageStaysConsistent(String options, long free) throws Exception {
    Session session = Session.open("full-", options, free);
    CrashingDevice file = session.file();
    FullDisk disk = session.disk();
    Qcow2Image image = session.image();
    BlockDevice dev = new CheckedDevice(image);

    Random random = new Random(options.hashCode());
    byte[] now = new byte[SIZE];
    byte[] flushed = new byte[SIZE];
    boolean[] sinceFlush = new boolean[SIZE];
    // Bytes of writes that failed: they may read old, new or a mix, until a later write succeeds over them.
    boolean[] undefined = new boolean[SIZE];
    int writeErrors = 0;
    int flushErrors = 0;
    // Fill the disk, then go on writing and flushing while it is full: overwrites still succeed, metadata write-back
    // fails.
    for (int op = 0; writeErrors < 40 && op < 100_000; op++) {
      int at = random.nextInt(SIZE - 1);
      int len = 1 + random.nextInt(Math.min(SIZE - at, 40_000));
      if (op % 10 == 9) {
        try {
          dev.flush();
          flushed = now.clone();
          Arrays.fill(sinceFlush, false);
        } catch (BlockDeviceException e) {
          assertThat(e.error()).as("flush: %s", e.getMessage()).isEqualTo(BlockError.ENOSPC);
          flushErrors++;
        }
        continue;
      }
      byte[] data = new byte[len];
      random.nextBytes(data);
      Arrays.fill(sinceFlush, at, at + len, true);
      try {
        dev.write(at, ByteBuffer.wrap(data), Set.of());
        System.arraycopy(data, 0, now, at, len);
        Arrays.fill(undefined, at, at + len, false);
      } catch (BlockDeviceException e) {
        assertThat(e.error()).as("write: %s", e.getMessage()).isEqualTo(BlockError.ENOSPC);
        Arrays.fill(undefined, at, at + len, true);
        writeErrors++;
      }
    }
    System.out.printf("Qcow2DiskFullIT %s: %d writes and %d flushes failed with ENOSPC%n", options, writeErrors,
        flushErrors);
    assertThat(writeErrors).as("the disk fills up").isPositive();

    // The full disk as it is: a consistent image whose flushed bytes are intact.
    Path atFull = dir.resolve("at-full-" + options.hashCode() + ".qcow2");
    save(file, atFull);
    assertConsistent(atFull);
    try (var img = Vdisk.open(atFull)) {
      byte[] got = Vdisk.readAll(img.device());
      for (int b = 0; b < SIZE; b++) {
        if (!sinceFlush[b] && !undefined[b] && got[b] != flushed[b]) {
          throw new AssertionError("byte " + b + " reads " + got[b] + ", flushed " + flushed[b]);
        }
      }
    }

    // Space freed: the open image catches up, and every write that succeeded reads back.
    disk.capacity = Long.MAX_VALUE;
    dev.flush();
    byte[] live = Vdisk.readAll(dev);
    for (int b = 0; b < SIZE; b++) {
      if (!undefined[b] && live[b] != now[b]) {
        throw new AssertionError("after space was freed byte " + b + " reads " + live[b] + ", written " + now[b]);
      }
    }
    image.close();
    Path after = dir.resolve("after-" + options.hashCode() + ".qcow2");
    save(file, after);
    assertConsistent(after);
    try (var img = Vdisk.open(after)) {
      assertThat(Arrays.equals(Vdisk.readAll(img.device()), live)).as("reopened after close, reads as before").isTrue();
    }
  }

  /**
   * Issue 13, fault 5: once the disk is full, an allocating write fails with ENOSPC and gives back what it reserved,
   * so later flushes have nothing to write that needs space: overwrites of allocated clusters, FUA writes and
   * flushes succeed while the disk stays full (as with qemu-nbd), the image closes on the full disk, and no cluster
   * is leaked (vdisk's check finds nothing, and qemu-img check exits 0).
   */
  @ParameterizedTest(name = "{0}, {1} bytes free")
  @MethodSource("layouts")
  void afterEnospcOverwritesAndFlushesSucceedAndNothingLeaks(String options, long free) throws Exception {
    Session session = Session.open("rollback-", options, free);
    CrashingDevice file = session.file();
    Qcow2Image image = session.image();
    BlockDevice dev = new CheckedDevice(image);
    Random random = new Random(options.hashCode());
    int chunk = 8192;
    int filled = 0;
    try {
      for (; filled < SIZE; filled += chunk) {
        byte[] data = new byte[chunk];
        random.nextBytes(data);
        dev.write(filled, ByteBuffer.wrap(data), Set.of());
        if (filled % (16 * chunk) == 0) {
          dev.flush();
        }
      }
    } catch (BlockDeviceException e) {
      assertThat(e.error()).as("write: %s", e.getMessage()).isEqualTo(BlockError.ENOSPC);
    }
    assertThat(filled).as("the disk fills up").isLessThan(SIZE);
    // The first flush may still meet metadata of allocations that succeeded; after it, nothing needs space.
    try {
      dev.flush();
    } catch (BlockDeviceException e) {
      assertThat(e.error()).isEqualTo(BlockError.ENOSPC);
    }
    byte[] model = Vdisk.read(dev, 0, filled);
    for (int op = 0; op < 60; op++) {
      if (op % 3 == 0) {
        // An allocating write into the rest of the disk: refused, and rolled back.
        int at = filled + chunk + random.nextInt(SIZE - filled - 2 * chunk);
        try {
          dev.write(at, ByteBuffer.wrap(new byte[] {1, 2, 3}), Set.of());
        } catch (BlockDeviceException e) {
          assertThat(e.error()).isEqualTo(BlockError.ENOSPC);
        }
      }
      int at = random.nextInt(filled - 4096);
      byte[] data = new byte[1 + random.nextInt(4096)];
      random.nextBytes(data);
      dev.write(at, ByteBuffer.wrap(data), op % 2 == 0 ? Set.of(WriteFlag.FUA) : Set.of());
      System.arraycopy(data, 0, model, at, data.length);
      dev.flush();
    }
    assertThat(Vdisk.read(dev, 0, filled)).isEqualTo(model);
    image.close();
    Path after = dir.resolve("rolled-back-" + options.hashCode() + ".qcow2");
    save(file, after);
    CheckResult r = Qcow2Checker.check(file, after, problem -> {});
    assertThat(List.of(r.corruptions(), r.leaks(), r.checkErrors())).as("vdisk check after the session on the full disk")
        .containsOnly(0L);
    if (qemuHere) {
      String check = Qemu.imgAllowingExit(dir, 3, "check", after.getFileName().toString());
      assertThat(check).as("qemu-img check after the session on the full disk").contains("No errors were found on the image.");
    }
  }

  private static void assertConsistent(Path image) throws Exception {
    try (FileDevice f = FileDevice.open(image, FileOptions.of(CacheMode.WRITEBACK, true))) {
      CheckResult r = Qcow2Checker.check(f, f.path(), problem -> {});
      assertThat(r.corruptions()).as("vdisk check of %s", image.getFileName()).isZero();
      assertThat(r.checkErrors()).isZero();
    }
    if (!qemuHere) {
      return;
    }
    String out = Qemu.imgAllowingExit(dir, 3, "check", "--output=json", image.getFileName().toString());
    Map<?, ?> check = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
    assertThat(check.get("corruptions")).as("qemu-img check of %s: %s", image.getFileName(), check).isIn(null, 0L);
  }

  private static void save(BlockDevice d, Path file) throws IOException {
    Files.write(file, Vdisk.readAll(d));
  }
}
