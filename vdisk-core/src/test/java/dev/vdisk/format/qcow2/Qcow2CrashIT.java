package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Power loss at many points of random workloads on qcow2 images that vdisk writes: the image file sits on a
 * {@link CrashingDevice}, and each crash keeps every write covered by a completed flush plus a random subset of
 * the rest, torn at 512-byte sectors. After each crash the image must have no corruption (leaks are allowed, as in
 * QEMU) by vdisk's check and, for every {@value #QEMU_EVERY}th crash point, by {@code qemu-img check}; and every
 * guest byte that no request changed after the last completed guest flush must read back as it was at that flush.
 *
 * <p>Workloads: allocating and partial writes, overwrites, FUA writes, zeroes with and without MAY_TRIM,
 * discards, compressed cluster writes, over several cluster sizes, refcount widths, versions, extended L2 entries
 * (subcluster allocation), overlays over a backing file (copy-on-write from it), and a small L2 cache that forces
 * write-back between flushes.
 */
class Qcow2CrashIT {
  private static final int SIZE = 4 << 20;
  private static final int OPS = 60;
  private static final int CRASHES_PER_WORKLOAD = 170;
  /** Workloads per image layout: 2, times the {@code vdisk.soak} factor ({@code -Psoak} sets 10). */
  private static final int WORKLOADS = 2 * Integer.getInteger("vdisk.soak", 1);
  private static final int QEMU_EVERY = 10;
  private static long crashPoints;
  private static long workloads;
  private static long compressedWrites;

  @TempDir static Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  @AfterAll
  static void report() {
    System.out.println("Qcow2CrashIT: " + workloads + " workloads x crash points = " + crashPoints + " crashes checked ("
        + compressedWrites + " compressed cluster writes)");
  }

  static Stream<Arguments> images() {
    List<String> layouts = List.of("cluster_size=65536", "cluster_size=4096", "cluster_size=512",
        "cluster_size=512,refcount_bits=1", "cluster_size=4096,refcount_bits=64", "compat=0.10,cluster_size=4096",
        "extended_l2=on,cluster_size=16384", "extended_l2=on,cluster_size=65536,refcount_bits=8",
        "extended_l2=on,cluster_size=32768 + backing", "cluster_size=65536 + backing", "lazy_refcounts=on,cluster_size=4096", "cluster_size=2097152");
    return layouts.stream().flatMap(layout -> LongStream.range(0, WORKLOADS)
        .mapToObj(w -> Arguments.of(layout, layouts.indexOf(layout) * 1000L + w)));
  }

  /** The guest's view: the expected bytes, and which bytes changed after the last flush. */
  private static final class Model {
    final byte[] now;
    byte[] atFlush;

    /** @param initial the guest disk before the workload */
    Model(byte[] initial) {
      now = initial.clone();
      atFlush = initial;
    }

    int flushedAtHistory = 0;
    /** Per op since the last flush: the history length when it started, and its range. */
    final List<long[]> since = new ArrayList<>();
  }

  @ParameterizedTest(name = "{0}, seed {1}")
  @MethodSource("images")
  void crashesLeaveLeaksAtWorstAndKeepFlushedData(String layout, long seed) throws Exception {
    Path base = dir.resolve("base-" + seed + ".qcow2");
    byte[] initial = new byte[SIZE];
    if (layout.endsWith(" + backing")) {
      // A backing file that stays as it is: data, a zero cluster and unallocated space below the image.
      String backing = "backing-" + seed + ".qcow2";
      Qemu.img(dir, "create", "-q", "-f", "qcow2", backing, Integer.toString(SIZE));
      Qemu.io(dir, backing, "write -P 0x5a 0 3M", "write -z 1M 64k");
      Arrays.fill(initial, 0, 3 << 20, (byte) 0x5a);
      Arrays.fill(initial, 1 << 20, (1 << 20) + (64 << 10), (byte) 0);
      Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", layout.replace(" + backing", ""), "-b", backing, "-F", "qcow2",
          base.getFileName().toString(), Integer.toString(SIZE));
    } else {
      Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", layout, base.getFileName().toString(), Integer.toString(SIZE));
    }
    MemoryDevice start = new MemoryDevice(Files.size(base));
    start.write(0, ByteBuffer.wrap(Files.readAllBytes(base)), Set.of());
    CrashingDevice disk = new CrashingDevice(start);
    int clusterSize = 1 << new ImageHeadProbe(base).clusterBits;
    Random random = new Random(seed);
    List<Model> flushes = new ArrayList<>();
    Model model = new Model(initial);
    // A small L2 cache: dirty tables are written back between flushes too.
    Qcow2Image image = Qcow2Opener.open(disk, base, new FileOptions(CacheMode.WRITEBACK, false, false, false),
        BackingChain.Chain.start(base), 4L * clusterSize);
    BlockDevice dev = new CheckedDevice(image);
    for (int op = 0; op < OPS; op++) {
      int historyBefore = disk.historyLength();
      long at;
      int len;
      if (random.nextInt(3) == 0) {
        at = (long) random.nextInt(SIZE / clusterSize) * clusterSize;
        len = (int) Math.min(SIZE - at, clusterSize * (1L + random.nextInt(3)));
      } else {
        at = random.nextInt(SIZE - 1);
        len = 1 + random.nextInt((int) Math.min(SIZE - at, 3L * clusterSize));
      }
      switch (random.nextInt(10)) {
        case 0, 1, 2, 3 -> {
          byte[] data = new byte[len];
          random.nextBytes(data);
          dev.write(at, ByteBuffer.wrap(data), random.nextInt(8) == 0 ? Set.of(WriteFlag.FUA) : Set.of());
          System.arraycopy(data, 0, model.now, (int) at, len);
        }
        case 4 -> {
          dev.writeZeroes(at, len, random.nextBoolean() ? Set.of(WriteFlag.MAY_TRIM) : Set.of());
          Arrays.fill(model.now, (int) at, (int) at + len, (byte) 0);
        }
        case 5 -> {
          dev.discard(at, len);
          long first = (at + clusterSize - 1) / clusterSize * clusterSize;
          long last = (at + len) / clusterSize * clusterSize;
          if (first < last) {
            Arrays.fill(model.now, (int) first, (int) last, (byte) 0);
          }
        }
        case 6 -> {
          // One compressed cluster (compressible bytes); refused with EIO, changing nothing, where it is allocated.
          at -= at % clusterSize;
          len = (int) Math.min(SIZE - at, clusterSize);
          byte[] data = new byte[len];
          for (int k = 0; k < len; k++) {
            data[k] = (byte) (k / 97 + random.nextInt(2));
          }
          try {
            dev.write(at, ByteBuffer.wrap(data), Set.of(WriteFlag.COMPRESSED));
          } catch (BlockDeviceException e) {
            assertThat(e.error()).as(e.getMessage()).isEqualTo(BlockError.EIO);
            continue;
          }
          compressedWrites++;
          System.arraycopy(data, 0, model.now, (int) at, len);
        }
        default -> {
          dev.flush();
          model.atFlush = model.now.clone();
          model.flushedAtHistory = disk.historyLength();
          model.since.clear();
          flushes.add(snapshot(model));
          continue;
        }
      }
      model.since.add(new long[] {historyBefore, at, at + len});
      flushes.add(snapshot(model));
    }
    assertThat(Vdisk.read(dev, 0, SIZE)).as("reads before any crash").isEqualTo(model.now);

    int history = disk.historyLength();
    for (int i = 0; i < CRASHES_PER_WORKLOAD; i++) {
      int point = i == 0 ? history : random.nextInt(history + 1);
      checkCrash(disk, point, flushes, initial, random, i % QEMU_EVERY == 0, seed + "-" + i);
    }
    image.close();
    workloads++;
  }

  private static Model snapshot(Model m) {
    Model s = new Model(m.atFlush);
    s.atFlush = m.atFlush;
    s.flushedAtHistory = m.flushedAtHistory;
    s.since.addAll(m.since);
    return s;
  }

  private void checkCrash(CrashingDevice disk, int point, List<Model> states, byte[] initial, Random random, boolean qemu,
      String name)
      throws Exception {
    // The newest guest state whose flush had completed by the crash point.
    Model state = null;
    for (Model m : states) {
      if (m.flushedAtHistory <= point) {
        state = m;
      }
    }
    MemoryDevice crashed = disk.crash(point, random, CrashingDevice.Tearing.SECTORS);
    Path file = dir.resolve("crash-" + name + ".qcow2");
    save(crashed, file);
    try (FileDevice f = FileDevice.open(file, FileOptions.of(CacheMode.WRITEBACK, true))) {
      CheckResult r = Qcow2Checker.check(f, problem -> {});
      assertThat(r.corruptions()).as("vdisk check after a crash at %d", point).isZero();
      assertThat(r.checkErrors()).as("check errors after a crash at %d", point).isZero();
    }
    if (qemu) {
      String out = Qemu.imgAllowingExit(dir, 3, "check", "--output=json", file.getFileName().toString());
      // Leak reports come on stderr, which the helper merges in front of the JSON.
      Map<?, ?> check = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
      assertThat(check.get("corruptions")).as("qemu-img check after a crash at %d: %s", point, check).isIn(null, 0L);
    }
    byte[] expected = state == null ? initial : state.atFlush;
    boolean[] unsure = new boolean[SIZE];
    if (state != null) {
      for (Model m : states) {
        if (m.flushedAtHistory == state.flushedAtHistory) {
          for (long[] op : m.since) {
            if (op[0] < point) {
              Arrays.fill(unsure, (int) op[1], (int) op[2], true);
            }
          }
        }
      }
    } else {
      Arrays.fill(unsure, true);
    }
    try (var img = Vdisk.open(file)) {
      byte[] got = Vdisk.read(img.device(), 0, SIZE);
      for (int b = 0; b < SIZE; b++) {
        if (!unsure[b] && got[b] != expected[b]) {
          throw new AssertionError("crash at " + point + ": byte " + b + " reads " + got[b] + ", flushed " + expected[b]);
        }
      }
    }
    Files.delete(file);
    crashPoints++;
  }

  private static void save(MemoryDevice d, Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(1 << 20);
      for (long at = 0; at < d.size(); at += b.capacity()) {
        b.clear().limit((int) Math.min(b.capacity(), d.size() - at));
        d.read(at, b);
        ch.write(b.flip(), at);
      }
    }
  }

  /** cluster_bits of a qcow2 file. */
  private record ImageHeadProbe(int clusterBits) {
    ImageHeadProbe(Path p) throws IOException {
      this(ByteBuffer.wrap(Files.readAllBytes(p), 20, 4).getInt());
    }
  }
}
