package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

class FileDeviceTest {
  private static final int O_DIRECT = 040000;
  private static final int MIB = 1 << 20;
  static final List<CacheMode> PRESETS = CacheMode.PRESETS;

  @TempDir Path dir;

  private Path sparseFile(String name, long size) throws IOException {
    Path p = dir.resolve(name);
    try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
      f.setLength(size);
    }
    return p;
  }

  private static FileDevice open(Path p, CacheMode cache) throws IOException {
    return FileDevice.open(p, FileOptions.of(cache, false));
  }

  @ParameterizedTest
  @FieldSource("PRESETS")
  void dataDescriptorIsODirectExactlyForDirectModes(CacheMode cache) throws IOException {
    Path p = sparseFile("flags.raw", MIB);
    try (FileDevice dev = open(p, cache)) {
      List<Integer> flags = openFlagsOf(p);
      assertThat(flags).as("fds open on %s", p).isNotEmpty();
      if (cache.direct()) {
        assertThat(flags).anyMatch(f -> (f & O_DIRECT) != 0);
      } else if (cache.writethrough() && !cache.ignoreFlushes()) {
        // The data path's descriptor uses the page cache; one more, O_DIRECT, takes aligned writes (WritethroughPath).
        assertThat(flags).filteredOn(f -> (f & O_DIRECT) != 0).hasSize(1);
      } else {
        assertThat(flags).noneMatch(f -> (f & O_DIRECT) != 0);
      }
      dev.write(0, ByteBuffer.wrap(new byte[] {1, 2, 3}), Set.of());
    }
    assertThat(openFlagsOf(p)).as("fds left open after close").isEmpty();
  }

  @ParameterizedTest
  @FieldSource("PRESETS")
  void startWritebackIsAHintThatLeavesTheDataAsWritten(CacheMode cache) throws IOException {
    Path p = sparseFile("writeback.raw", 4 * MIB);
    ByteBuffer data = ByteBuffer.allocateDirect(MIB);
    while (data.hasRemaining()) {
      data.put((byte) (data.position() * 31));
    }
    try (FileDevice dev = open(p, cache)) {
      dev.write(MIB, data.flip(), Set.of());
      dev.startWriteback();
      dev.flush();
      ByteBuffer back = ByteBuffer.allocateDirect(MIB);
      dev.read(MIB, back);
      assertThat(back.flip().mismatch(data.rewind())).isEqualTo(-1);
    }
  }

  /**
   * A page-cache file takes another file's bytes copied by the kernel, at the offset asked, growing past its end as a
   * write does, and its copy channels close with it; an O_DIRECT file or a read-only one refuses and writes nothing.
   */
  @ParameterizedTest
  @FieldSource("PRESETS")
  void writeFromCopiesAHostRangeWhereTheFileIsInThePageCache(CacheMode cache) throws IOException {
    Path from = dir.resolve("from.raw");
    byte[] bytes = new byte[3 * MIB];
    new Random(7).nextBytes(bytes);
    Files.write(from, bytes);
    Path p = sparseFile("to.raw", 2 * MIB);
    try (FileDevice src = FileDevice.open(from, FileOptions.of(CacheMode.WRITEBACK, true));
        FileDevice dev = open(p, cache)) {
      // From byte 4096 of the source to byte MIB + 4096 of the target: 1.5 MiB, half of it past the target's end.
      boolean copied = dev.writeFrom(MIB + 4096, src.hostRanges(4096, 3 * MIB / 2).getFirst());
      assertThat(copied).isEqualTo(!cache.direct());
      if (copied) {
        assertThat(dev.size()).isEqualTo(MIB + 4096 + 3 * MIB / 2);
        ByteBuffer back = ByteBuffer.allocate(3 * MIB / 2);
        dev.read(MIB + 4096, back);
        assertThat(back.flip().mismatch(ByteBuffer.wrap(bytes, 4096, 3 * MIB / 2))).isEqualTo(-1);
        assertThat(dev.extents(0, MIB).getFirst().zero()).as("nothing written before the copy's offset").isTrue();
      } else {
        assertThat(Files.size(p)).isEqualTo(2 * MIB);
        assertThat(dev.extents(0, 2 * MIB)).allMatch(Extent::zero);
      }
    }
    assertThat(openFlagsOf(p)).as("fds left open after close").isEmpty();
    try (FileDevice src = FileDevice.open(from, FileOptions.of(CacheMode.WRITEBACK, true));
        FileDevice readOnly = FileDevice.open(p, FileOptions.of(cache, true))) {
      assertThat(readOnly.writeFrom(0, src.hostRanges(0, 4096).getFirst())).isFalse();
    }
  }

  /**
   * A new image's file is open twice while the format writes it (the data channel and the native descriptor): a
   * creation flushes at most once, through the data path's descriptor, so none for concurrent flushes is opened (a
   * writeback open has 3 more).
   */
  @Test
  void createOpensNoDescriptorForConcurrentFlushes() throws IOException {
    Path p = dir.resolve("new.raw");
    try (FileDevice created = FileDevice.create(p, false)) {
      created.write(0, ByteBuffer.allocate(4096), Set.of());
      created.flush();
      assertThat(openFlagsOf(p)).hasSize(2);
    }
    try (FileDevice opened = FileDevice.open(p, FileOptions.of(CacheMode.WRITEBACK, false))) {
      assertThat(openFlagsOf(p)).hasSize(2 + FileDevice.WRITEBACK_FLUSHES - 1);
    }
    assertThat(openFlagsOf(p)).as("fds left open after close").isEmpty();
  }

  /** The flags (from /proc/self/fdinfo) of every descriptor of this process that is open on {@code file}. */
  private static List<Integer> openFlagsOf(Path file) throws IOException {
    Path real = file.toRealPath();
    List<Integer> out = new ArrayList<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : fds.toList()) {
        Path target;
        try {
          target = Files.readSymbolicLink(fd);
        } catch (IOException gone) {
          continue; // the directory stream's own fd, closed by now
        }
        if (!target.equals(real)) {
          continue;
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo", fd.getFileName().toString()))) {
          if (line.startsWith("flags:")) {
            out.add(Integer.parseInt(line.substring("flags:".length()).trim(), 8));
          }
        }
      }
    }
    return out;
  }

  @Test
  void unalignedReadsAndWritesUnderCacheNoneReadBack() throws IOException {
    int size = 256 * 1024;
    Path p = sparseFile("unaligned.raw", size);
    byte[] model = new byte[size];
    Random rnd = new Random(42);
    try (Arena arena = Arena.ofConfined(); FileDevice dev = open(p, CacheMode.NONE)) {
      assertThat(dev.limits().requestAlignment()).isEqualTo(1);
      assertThat(dev.limits().optimalAlignment()).isGreaterThanOrEqualTo(512);
      // Direct buffers with a deliberately misaligned address, heap buffers, aligned direct buffers.
      ByteBuffer misaligned = arena.allocate(16384 + 1, 4096).asByteBuffer().position(1).slice();
      ByteBuffer aligned = arena.allocate(16384, 4096).asByteBuffer();
      for (int i = 0; i < 400; i++) {
        int len = 1 + rnd.nextInt(8191);
        int off = rnd.nextInt(size - len) | 1;
        if (off + len > size) {
          off -= 2;
        }
        byte[] bytes = new byte[len];
        rnd.nextBytes(bytes);
        ByteBuffer src = switch (i % 3) {
          case 0 -> ByteBuffer.wrap(bytes);
          case 1 -> misaligned.clear().put(bytes).flip();
          default -> aligned.clear().put(bytes).flip();
        };
        dev.write(off, src, Set.of());
        assertThat(src.hasRemaining()).isFalse();
        System.arraycopy(bytes, 0, model, off, len);

        int rlen = 1 + rnd.nextInt(8191);
        int roff = rnd.nextInt(size - rlen);
        ByteBuffer dst = switch (i % 3) {
          case 0 -> ByteBuffer.allocate(rlen);
          case 1 -> misaligned.clear().limit(rlen);
          default -> aligned.clear().limit(rlen);
        };
        dev.read(roff, dst);
        assertThat(dst.hasRemaining()).isFalse();
        assertThat(bytesOf(dst.flip())).isEqualTo(Arrays.copyOfRange(model, roff, roff + rlen));
      }
      // Aligned requests through a misaligned direct buffer are bounced too.
      dev.write(8192, misaligned.clear().limit(8192), Set.of());
      misaligned.clear().limit(8192).get(model, 8192, 8192);
      assertSameBytes(readAll(dev), model);
    }
    assertSameBytes(Files.readAllBytes(p), model);
  }

  @Test
  void concurrentUnalignedWritersInTheSameBlocksLoseNothing() throws Exception {
    int threads = 8;
    int stripe = 37; // odd, so every write is unaligned and stripes of all threads share each block
    int size = 64 * 1024;
    int stripes = size / stripe;
    Path p = sparseFile("concurrent.raw", size);
    byte[] model = new byte[size];
    try (FileDevice dev = open(p, CacheMode.NONE)) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      CountDownLatch start = new CountDownLatch(1);
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int me = t;
        done.add(pool.submit(() -> {
          Random rnd = new Random(me);
          start.await();
          for (int round = 0; round < 600; round++) {
            // One or two adjacent stripes of mine: a write may span a block boundary (two RMW blocks).
            int s = me + threads * rnd.nextInt(stripes / threads - 1);
            byte[] bytes = new byte[stripe];
            rnd.nextBytes(bytes);
            dev.write((long) s * stripe, ByteBuffer.wrap(bytes), Set.of());
            System.arraycopy(bytes, 0, model, s * stripe, stripe); // disjoint per thread
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> f : done) {
        f.get();
      }
      pool.shutdown();
      assertSameBytes(readAll(dev), model);
    }
  }

  @ParameterizedTest
  @FieldSource("DATA_MODES")
  void discardFreesBlocksAndReadsZeroes(CacheMode cache) throws IOException {
    Path p = sparseFile("discard.raw", 4 * MIB);
    try (FileDevice dev = open(p, cache)) {
      fill(dev, 0, 2 * MIB, (byte) 0x5a);
      dev.flush();
      long before = dev.allocatedBytes();
      assertThat(before).isGreaterThanOrEqualTo(2 * MIB);
      dev.discard(0, MIB);
      assertThat(dev.allocatedBytes()).isLessThanOrEqualTo(before - MIB);
      assertFilled(read(dev, 0, MIB), 0);
      assertFilled(read(dev, MIB, MIB), 0x5a);
    }
  }

  static final List<CacheMode> DATA_MODES = List.of(CacheMode.WRITEBACK, CacheMode.NONE);

  /** Formats append clusters by writing past the end; an unaligned direct write must not be trimmed away. */
  @ParameterizedTest
  @FieldSource("DATA_MODES")
  void writesPastTheEndGrowTheFile(CacheMode cache) throws IOException {
    Path p = sparseFile("grow.raw", 196_624);
    try (FileDevice dev = open(p, cache)) {
      fill(dev, 262_144, 65_536, (byte) 0x11);
      fill(dev, 400_000, 100, (byte) 0x22);
      assertThat(dev.size()).isEqualTo(400_100);
      assertThat(Files.size(p)).isEqualTo(400_100);
      assertFilled(read(dev, 262_144, 65_536), 0x11);
      assertFilled(read(dev, 400_000, 100), 0x22);
      assertFilled(read(dev, 196_624, 65_520), 0);
    }
  }

  @ParameterizedTest
  @FieldSource("DATA_MODES")
  void writeZeroesWithAndWithoutMayTrim(CacheMode cache) throws IOException {
    Path p = sparseFile("zeroes.raw", 4 * MIB);
    try (FileDevice dev = open(p, cache)) {
      fill(dev, 0, 4 * MIB, (byte) 0x11);
      dev.flush();
      long full = dev.allocatedBytes();

      dev.writeZeroes(100, MIB, Set.of());
      assertFilled(read(dev, 100, MIB), 0);
      assertFilled(read(dev, 0, 100), 0x11);
      assertFilled(read(dev, MIB + 100, 100), 0x11);
      assertThat(dev.allocatedBytes()).as("without MAY_TRIM storage stays").isEqualTo(full);

      dev.writeZeroes(2 * MIB, MIB, Set.of(WriteFlag.MAY_TRIM));
      assertFilled(read(dev, 2 * MIB, MIB), 0);
      // st_blocks also counts the file system's own extent-tree blocks, which a punch may add: allow 64 KiB.
      assertThat(dev.allocatedBytes()).as("with MAY_TRIM storage is released").isLessThanOrEqualTo(full - MIB + 65536);
      assertFilled(read(dev, 3 * MIB, MIB), 0x11);
    }
  }

  @Test
  void fastZeroSucceedsWhereTheFileSystemZeroesWithoutWriting() throws IOException {
    Path p = sparseFile("fast.raw", 4 * MIB);
    try (CheckedDevice dev = new CheckedDevice(open(p, CacheMode.NONE))) {
      assertThat(dev.capabilities().fastZero().available()).isTrue();
      dev.write(0, ByteBuffer.wrap(new byte[8192]).put(0, (byte) 7), Set.of());
      dev.writeZeroes(0, 4 * MIB, Set.of(WriteFlag.FAST_ZERO));
      assertFilled(read(dev, 0, 8192), 0);
    }
  }

  @Test
  void writeZeroesPastEndOfShortFileDoesNotGrowIt() throws IOException {
    Path p = sparseFile("short.raw", 2 * MIB);
    try (FileDevice dev = open(p, CacheMode.WRITEBACK)) {
      try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
        f.setLength(MIB); // behind the device's back: the file is now shorter than size()
      }
      dev.writeZeroes(MIB / 2, MIB, Set.of());
      assertThat(Files.size(p)).isEqualTo(MIB);
      assertFilled(read(dev, MIB / 2, MIB), 0);
    }
  }

  @Test
  void extentsOfASparseFile() throws IOException {
    Path p = sparseFile("sparse.raw", 4 * MIB);
    try (CheckedDevice dev = new CheckedDevice(open(p, CacheMode.WRITEBACK))) {
      dev.write(MIB, ByteBuffer.wrap(new byte[64 * 1024]).put(0, (byte) 1), Set.of());
      dev.write(3 * MIB, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 1), Set.of());
      assertThat(dev.extents(0, 4 * MIB)).containsExactly(
          Extent.zero(0, MIB, 0),
          Extent.data(MIB, 64 * 1024, MIB),
          Extent.zero(MIB + 64 * 1024, 2 * MIB - 64 * 1024, MIB + 64 * 1024),
          Extent.data(3 * MIB, 4096, 3 * MIB),
          Extent.zero(3 * MIB + 4096, MIB - 4096, 3 * MIB + 4096));
      assertThat(dev.extents(MIB + 4096, 8192)).containsExactly(Extent.data(MIB + 4096, 8192, MIB + 4096));
    }
  }

  @ParameterizedTest
  @FieldSource("DATA_MODES")
  void readsAndExtentsPastEndOfFileAreZeroes(CacheMode cache) throws IOException {
    Path p = dir.resolve("eof.raw");
    byte[] content = new byte[5000]; // not a multiple of any block size
    Arrays.fill(content, (byte) 0x77);
    Files.write(p, content);
    try (FileDevice dev = open(p, cache)) {
      assertThat(dev.size()).isEqualTo(5000);
      assertFilled(read(dev, 4000, 1000), 0x77);
      dev.write(4990, ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), Set.of());
      assertThat(Files.size(p)).as("a partial-block RMW must not grow the file").isEqualTo(5000);
      try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
        f.setLength(3000);
      }
      assertThat(dev.size()).isEqualTo(5000);
      byte[] tail = read(dev, 2000, 3000);
      assertFilled(Arrays.copyOfRange(tail, 0, 1000), 0x77);
      assertFilled(Arrays.copyOfRange(tail, 1000, 3000), 0);
      List<Extent> extents = dev.extents(0, 5000);
      assertThat(extents.getLast()).isEqualTo(Extent.zero(3000, 2000, 3000));
    }
  }

  @Test
  void resizeGrowsSparselyAndShrinks() throws IOException {
    Path p = sparseFile("resize.raw", MIB);
    try (FileDevice dev = open(p, CacheMode.NONE)) {
      fill(dev, 0, MIB, (byte) 3);
      dev.flush();
      long allocated = dev.allocatedBytes();
      dev.resize(64 * MIB);
      assertThat(dev.size()).isEqualTo(64 * MIB);
      assertThat(Files.size(p)).isEqualTo(64 * MIB);
      assertThat(dev.allocatedBytes()).isEqualTo(allocated);
      assertFilled(read(dev, 32 * MIB, 4096), 0);
      dev.resize(4096);
      assertThat(Files.size(p)).isEqualTo(4096);
      dev.resize(MIB);
      assertFilled(read(dev, 0, 4096), 3);
      assertFilled(read(dev, 4096, 4096), 0);
    }
  }

  @Test
  void preallocationModesAllocate() throws IOException {
    for (Preallocation mode : List.of(Preallocation.OFF, Preallocation.FALLOC, Preallocation.FULL)) {
      Path p = sparseFile("prealloc-" + mode.spelling() + ".raw", 8 * MIB);
      try (FileDevice dev = open(p, CacheMode.NONE)) {
        dev.preallocate(0, 8 * MIB, mode);
        long allocated = dev.allocatedBytes();
        if (mode == Preallocation.OFF) {
          assertThat(allocated).as(mode.spelling()).isLessThan(MIB);
        } else {
          assertThat(allocated).as(mode.spelling()).isGreaterThanOrEqualTo(8 * MIB);
        }
        assertFilled(read(dev, 0, 8 * MIB), 0);
        assertThat(dev.size()).isEqualTo(8 * MIB);
      }
    }
  }

  @Test
  void tmpfsDirectIoWorksOrIsRefusedWithAHelpfulMessage() throws IOException {
    Path shm = Path.of("/dev/shm");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm), "no writable /dev/shm");
    Path p = Files.createTempFile(shm, "vdisk-filedevice", ".raw");
    try {
      try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
        f.setLength(MIB);
      }
      FileDevice dev;
      try {
        dev = open(p, CacheMode.NONE);
      } catch (BlockDeviceException e) {
        // Kernels before 6.6: tmpfs has no O_DIRECT.
        assertThat(e.getMessage()).contains(p.toString(), "tmpfs", "cache=writeback");
        assertThat(e.error()).isEqualTo(BlockError.ENOTSUP);
        return;
      }
      try (dev) {
        assertThat(openFlagsOf(p)).anyMatch(f -> (f & O_DIRECT) != 0);
        dev.write(513, ByteBuffer.wrap(new byte[] {9, 8, 7}), Set.of());
        assertThat(read(dev, 512, 5)).containsExactly(0, 9, 8, 7, 0);
        dev.writeZeroes(0, 4096, Set.of());
        assertFilled(read(dev, 512, 5), 0);
        dev.discard(0, MIB);
      }
    } finally {
      Files.deleteIfExists(p);
    }
  }

  @Test
  void errorsNameTheOperationFileAndOffset() throws IOException {
    Path p = sparseFile("ro.raw", MIB);
    try (FileDevice dev = FileDevice.open(p, FileOptions.of(CacheMode.WRITEBACK, true))) {
      // The guard would refuse this; below it, the read-only descriptor does.
      assertThatThrownBy(() -> dev.discard(8192, 4096))
          .isInstanceOf(BlockDeviceException.class)
          .hasMessageContaining("fallocate(PUNCH_HOLE) " + p + " offset 8192 length 4096: Bad file descriptor (errno 9)");
    }
  }

  @Test
  void closeIsIdempotentAndToStringNamesFileAndCache() throws IOException {
    Path p = sparseFile("close.raw", MIB);
    FileDevice dev = open(p, CacheMode.NONE);
    assertThat(dev.toString()).isEqualTo("FileDevice[close.raw, cache=none, aio=" + dev.aio() + "]");
    dev.close();
    dev.close();
    assertThatThrownBy(() -> dev.read(4096, ByteBuffer.allocate(1)))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessage("read " + p + " offset 4096 length 1: device is closed")
        .satisfies(e -> assertThat(((BlockDeviceException) e).error()).isEqualTo(BlockError.ESHUTDOWN));
  }

  @Test
  void anAlreadyInterruptedCallerDoesNotCloseTheDeviceForEveryone() throws IOException {
    Path p = sparseFile("interrupt.raw", MIB);
    try (FileDevice dev = open(p, CacheMode.NONE)) {
      Thread.currentThread().interrupt();
      try {
        dev.write(0, ByteBuffer.wrap(new byte[] {4}), Set.of());
        assertThat(Thread.currentThread().isInterrupted()).as("interrupt status restored").isTrue();
      } finally {
        Thread.interrupted();
      }
      assertThat(read(dev, 0, 1)).containsExactly(4);
    }
  }

  /**
   * Interrupts that land while a thread is inside a read (a cancelled task, a scope shutting its subtasks down) close
   * the JDK channel under every thread; the device must carry on. One interrupt per read, at a random point of it or
   * between two: it failed in 3 of 3 runs without ChannelIo's replacement; ChannelIoTest pins the mechanism exactly.
   */
  @Test
  void interruptsDuringReadsDoNotCloseTheDeviceForEveryone() throws Exception {
    Path p = sparseFile("interrupted-reads.raw", 8 * MIB);
    try (FileDevice dev = open(p, CacheMode.NONE)) {
      fill(dev, 0, 8 * MIB, (byte) 3);
      List<Throwable> failures = new ArrayList<>();
      AtomicInteger reads = new AtomicInteger();
      Thread reader = Thread.ofPlatform().start(() -> {
        ByteBuffer dst = ByteBuffer.allocateDirect(MIB);
        for (int i = 0; i < 2000; i++) {
          try {
            dst.clear();
            dev.read((long) (i % 8) * MIB, dst);
          } catch (IOException | RuntimeException e) {
            failures.add(e);
            return;
          } finally {
            Thread.interrupted();
            reads.incrementAndGet();
          }
        }
      });
      while (reader.isAlive()) {
        int before = reads.get();
        reader.interrupt();
        while (reads.get() == before && reader.isAlive()) {
          Thread.onSpinWait();
        }
      }
      reader.join();
      assertThat(failures).isEmpty();
      assertThat(read(dev, 5 * MIB, 4)).containsExactly(3, 3, 3, 3);
    }
  }

  @Test
  void refusesFilesThatAreNeitherRegularNorBlockDevices() {
    assertThatThrownBy(() -> FileDevice.open(Path.of("/dev/null"), FileOptions.of(CacheMode.WRITEBACK, true)))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining("/dev/null is not a regular file or block device");
  }

  private static void fill(BlockDevice dev, long offset, int length, byte value) throws IOException {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, value);
    dev.write(offset, ByteBuffer.wrap(bytes), Set.of());
  }

  private static byte[] read(BlockDevice dev, long offset, int length) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(length);
    dev.read(offset, buf);
    return buf.array();
  }

  private static byte[] readAll(BlockDevice dev) throws IOException {
    return read(dev, 0, (int) dev.size());
  }

  /** Like isEqualTo, but a failure names the first differing offset instead of printing megabytes. */
  private static void assertSameBytes(byte[] actual, byte[] expected) {
    int at = Arrays.mismatch(actual, expected);
    assertThat(at).as("first differing offset (-1: none) of %d vs %d bytes", actual.length, expected.length).isEqualTo(-1);
  }

  private static void assertFilled(byte[] actual, int value) {
    byte[] expected = new byte[actual.length];
    Arrays.fill(expected, (byte) value);
    assertSameBytes(actual, expected);
  }

  private static byte[] bytesOf(ByteBuffer buf) {
    byte[] out = new byte[buf.remaining()];
    buf.get(out);
    return out;
  }
}
