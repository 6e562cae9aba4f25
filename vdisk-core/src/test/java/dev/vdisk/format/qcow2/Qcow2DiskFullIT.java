package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.CrashingDevice;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
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
    assertNoLeaks(file, "rolled-back-" + options.hashCode(), "after the session on the full disk");
  }

  /**
   * Issue 13, fault 5 for compressed cluster writes ({@code convert -c}, {@code qemu-io write -c}): once the disk is
   * full, a compressed write fails with ENOSPC and gives back the bytes and the L2 table it took, so overwrites of
   * allocated clusters, FUA writes and flushes succeed on the full disk and no cluster is leaked (vdisk's check, and
   * qemu-img check exits 0); once space is freed the same open image writes the clusters that failed, and every
   * write reads back, also after a reopen.
   */
  @ParameterizedTest(name = "{0}, {1} bytes free")
  @MethodSource("layouts")
  void compressedWritesOnAFullDiskGiveBackWhatTheyTook(String options, long free) throws Exception {
    Session session = Session.open("compressed-", options, free);
    BlockDevice dev = new CheckedDevice(session.image());
    int cluster = dev.limits().compressionUnit();
    Random random = new Random(options.hashCode());
    byte[] model = new byte[SIZE];
    // Plain clusters, to overwrite once the disk is full.
    int plain = Math.max(2 * cluster, 64 << 10);
    write(dev, model, 0, randomBytes(random, plain), Set.of());
    dev.flush();
    Map<Integer, byte[]> failed = new TreeMap<>();
    int at = plain;
    for (; failed.isEmpty(); at += cluster) {
      assertThat(at).as("the disk fills up").isLessThan(SIZE);
      writeOrFull(dev, model, at, compressible(random, cluster), Set.of(WriteFlag.COMPRESSED), failed);
      if (at / cluster % 16 == 0) {
        dev.flush();
      }
    }
    for (int op = 0; op < 30; op++, at += cluster) {
      writeOrFull(dev, model, at, compressible(random, cluster), Set.of(WriteFlag.COMPRESSED), failed);
      overwriteAndFlush(dev, model, plain, random, op % 2 == 0);
    }
    System.out.printf("Qcow2DiskFullIT compressed %s: %d compressed writes failed with ENOSPC%n", options, failed.size());
    assertThat(Vdisk.read(dev, 0, at)).as("every write that succeeded reads back on the full disk")
        .isEqualTo(withFailedAsRead(dev, model, failed, at));
    assertNoLeaks(session.file(), "compressed-full-" + options.hashCode(), "on the full disk, flushed");

    session.disk().capacity = Long.MAX_VALUE;
    for (Map.Entry<Integer, byte[]> f : failed.entrySet()) {
      write(dev, model, f.getKey(), f.getValue(), Set.of(WriteFlag.COMPRESSED));
    }
    dev.flush();
    assertThat(Vdisk.read(dev, 0, at)).as("after space was freed").isEqualTo(Arrays.copyOf(model, at));
    session.image().close();
    Path after = assertNoLeaks(session.file(), "compressed-after-" + options.hashCode(), "after space was freed");
    try (var img = Vdisk.open(after)) {
      assertThat(Vdisk.readAll(img.device())).as("reopened").isEqualTo(model);
    }
  }

  /**
   * 512-byte clusters with 64-bit refcounts: a refcount block counts 64 clusters (32 KiB of the file), the refcount
   * table vdisk creates (one cluster) 64 blocks (2 MiB of the file). Free space that ends at 1 MiB fails the
   * allocation that needs the refcount block for the clusters from 1 MiB (placed on the first of them); ending at 2 MiB
   * + 32 KiB it lets the block for the clusters from 2 MiB be placed but fails the larger refcount table that must
   * name it, which goes after the range that block covers (QEMU's {@code qcow2_refcount_area}).
   */
  static Stream<Arguments> refcountGrowth() {
    long newBlock = 1 << 20;
    long newTable = (2 << 20) + (32 << 10);
    return Stream.of(Arguments.of("a new refcount block", newBlock, false), Arguments.of("a new refcount block", newBlock, true),
        Arguments.of("a larger refcount table", newTable, false), Arguments.of("a larger refcount table", newTable, true));
  }

  /**
   * Issue 13, fault 5 for allocations that grow the refcount structures: when the disk is full the allocation that
   * needs a new refcount block or a larger refcount table fails with ENOSPC and changes nothing, so overwrites of
   * allocated clusters, FUA writes and flushes succeed on the full disk and no cluster is leaked; once space is freed
   * the same open image makes the structures (the header then names the new table) and every write reads back.
   */
  @ParameterizedTest(name = "{0}, compressed writes {2}")
  @MethodSource("refcountGrowth")
  void allocationsThatGrowTheRefcountsFailCleanlyOnAFullDisk(String needs, long limit, boolean compressed) throws Exception {
    String options = "cluster_size=512,refcount_bits=64";
    String name = "growth-" + limit + "-" + compressed;
    Session session = Session.open(name + "-", options, Long.MAX_VALUE);
    session.disk().limit = limit;
    long tableBefore = refcountTableOffset(session.file());
    BlockDevice dev = new CheckedDevice(session.image());
    Random random = new Random(limit);
    byte[] model = new byte[SIZE];
    int plain = 64 << 10;
    write(dev, model, 0, randomBytes(random, plain), Set.of());
    dev.flush();
    int step = compressed ? 512 : 4096;
    Set<WriteFlag> flags = compressed ? Set.of(WriteFlag.COMPRESSED) : Set.of();
    Map<Integer, byte[]> failed = new TreeMap<>();
    int at = plain;
    for (; failed.isEmpty(); at += step) {
      assertThat(at).as("the disk fills up").isLessThan(SIZE);
      writeOrFull(dev, model, at, compressed ? compressible(random, step) : randomBytes(random, step), flags, failed);
      if (at / step % 64 == 0) {
        dev.flush();
      }
    }
    for (int op = 0; op < 30; op++, at += step) {
      writeOrFull(dev, model, at, compressed ? compressible(random, step) : randomBytes(random, step), flags, failed);
      overwriteAndFlush(dev, model, plain, random, op % 2 == 0);
    }
    System.out.printf("Qcow2DiskFullIT %s (compressed %s): %d writes failed with ENOSPC, the first at guest offset %d%n",
        needs, compressed, failed.size(), failed.keySet().iterator().next());
    assertThat(Vdisk.read(dev, 0, at)).as("every write that succeeded reads back on the full disk")
        .isEqualTo(withFailedAsRead(dev, model, failed, at));
    assertNoLeaks(session.file(), name + "-full", "on the full disk, flushed");
    assertThat(refcountTableOffset(session.file())).as("the refcount table while the disk is full").isEqualTo(tableBefore);

    session.disk().limit = Long.MAX_VALUE;
    for (Map.Entry<Integer, byte[]> f : failed.entrySet()) {
      write(dev, model, f.getKey(), f.getValue(), flags);
    }
    dev.flush();
    assertThat(Vdisk.read(dev, 0, at)).as("after space was freed").isEqualTo(Arrays.copyOf(model, at));
    session.image().close();
    Path after = assertNoLeaks(session.file(), name + "-after", "after space was freed");
    if (limit > 1 << 21) {
      assertThat(refcountTableOffset(session.file())).as("the refcount table grew once space was freed").isNotEqualTo(tableBefore);
    }
    try (var img = Vdisk.open(after)) {
      assertThat(Vdisk.readAll(img.device())).as("reopened").isEqualTo(model);
    }
  }

  /** Writes {@code data} at {@code at} with {@code flags} (it must succeed) and into {@code model}. */
  private static void write(BlockDevice dev, byte[] model, int at, byte[] data, Set<WriteFlag> flags) throws IOException {
    dev.write(at, ByteBuffer.wrap(data), flags);
    System.arraycopy(data, 0, model, at, data.length);
  }

  /**
   * Writes {@code data} at {@code at}: into {@code model} if it succeeds, into {@code failed} if it fails with ENOSPC
   * (anything else fails the test).
   */
  private static void writeOrFull(BlockDevice dev, byte[] model, int at, byte[] data, Set<WriteFlag> flags,
      Map<Integer, byte[]> failed) throws IOException {
    try {
      write(dev, model, at, data, flags);
    } catch (BlockDeviceException e) {
      assertThat(e.error()).as("write at %d: %s", at, e.getMessage()).isEqualTo(BlockError.ENOSPC);
      failed.put(at, data);
    }
  }

  /** An overwrite of the plain clusters below {@code plain} (FUA or not) and a flush: all must succeed. */
  private static void overwriteAndFlush(BlockDevice dev, byte[] model, int plain, Random random, boolean fua)
      throws IOException {
    byte[] data = randomBytes(random, 1 + random.nextInt(4096));
    write(dev, model, random.nextInt(plain - data.length), data, fua ? Set.of(WriteFlag.FUA) : Set.of());
    dev.flush();
  }

  /**
   * {@code model}'s first {@code length} bytes with the ranges of the failed writes as the image reads them: a failed
   * write may leave old, new or mixed bytes until a later write succeeds over them.
   */
  private static byte[] withFailedAsRead(BlockDevice dev, byte[] model, Map<Integer, byte[]> failed, int length)
      throws IOException {
    byte[] expected = Arrays.copyOf(model, length);
    for (Map.Entry<Integer, byte[]> f : failed.entrySet()) {
      int n = Math.min(f.getValue().length, length - f.getKey());
      System.arraycopy(Vdisk.read(dev, f.getKey(), n), 0, expected, f.getKey(), n);
    }
    return expected;
  }

  private static byte[] randomBytes(Random random, int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    return b;
  }

  /** A cluster whose first three quarters are random and the rest zeroes: it compresses to about three quarters. */
  private static byte[] compressible(Random random, int cluster) {
    byte[] b = new byte[cluster];
    byte[] head = randomBytes(random, cluster / 4 * 3);
    System.arraycopy(head, 0, b, 0, head.length);
    return b;
  }

  /** The refcount table offset the header of {@code file} names (bytes 48-55). */
  private static long refcountTableOffset(BlockDevice file) throws IOException {
    return ByteBuffer.wrap(Vdisk.read(file, 48, 8)).getLong();
  }

  /**
   * Saves the bytes of {@code file} as {@code name}.qcow2 and asserts that vdisk's check finds no corruption, leak or
   * check error there, and qemu-img check no error (where installed); returns the saved copy.
   */
  private static Path assertNoLeaks(BlockDevice file, String name, String when) throws Exception {
    Path saved = dir.resolve(name + ".qcow2");
    save(file, saved);
    CheckResult r = Qcow2Checker.check(file, problem -> {});
    assertThat(List.of(r.corruptions(), r.leaks(), r.checkErrors())).as("vdisk check %s: corruptions, leaks, errors", when)
        .containsOnly(0L);
    if (qemuHere) {
      String check = Qemu.imgAllowingExit(dir, 3, "check", saved.getFileName().toString());
      assertThat(check).as("qemu-img check %s", when).contains("No errors were found on the image.");
    }
    return saved;
  }

  private static void assertConsistent(Path image) throws Exception {
    try (FileDevice f = FileDevice.open(image, FileOptions.of(CacheMode.WRITEBACK, true))) {
      CheckResult r = Qcow2Checker.check(f, problem -> {});
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
