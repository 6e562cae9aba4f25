package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.CrashingDevice;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Power loss during internal snapshot create, apply and delete ({@link InternalSnapshots}), and during the write
 * sessions between them, on a {@link CrashingDevice} that keeps every flushed write and a random subset of the rest,
 * torn at 512-byte sectors. After each crash:
 *
 * <ul>
 *   <li>no corruption and no check error by vdisk's check and, every {@value #QEMU_EVERY}th crash point, by
 *       {@code qemu-img check} (leaks allowed; a dirty image of lazy refcounts is left to its repair, as in
 *       {@link Qcow2CrashIT});
 *   <li>every snapshot reported created reads back as the disk was when it was taken, and is listed unless the
 *       operation in progress deleted it; a listed snapshot no completed operation created is the one in progress, whole;
 *   <li>between snapshot operations the active layer is as the last completed operation left it, or as the one in
 *       progress leaves it;
 *   <li>vdisk's repair then leaves the image clean.
 * </ul>
 *
 * <p>vdisk makes the starting images ({@link CrashImages#make}), so the test runs where QEMU is not installed;
 * {@code qemu-img check} judges where it is (and must be on CI).
 */
class SnapshotCrashIT {
  private static final int SIZE = 4 << 20;
  private static final int OPS = 14;
  private static final int CRASHES_PER_WORKLOAD = 60 * Integer.getInteger("vdisk.soak", 1);
  private static final int QEMU_EVERY = 15;
  private static final AtomicLong crashPoints = new AtomicLong();
  private static final AtomicLong operations = new AtomicLong();
  private static boolean qemuHere;
  private static final AtomicLong qemuJudged = new AtomicLong();

  @TempDir static Path dir;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  @AfterAll
  static void report() {
    System.out.println("SnapshotCrashIT: " + operations + " snapshot operations, " + crashPoints + " crash points checked, "
        + qemuJudged + " of them by qemu-img check too" + (qemuHere ? "" : " (qemu-img not installed)"));
  }

  static Stream<Arguments> images() {
    List<String> layouts = List.of("cluster_size=65536", "cluster_size=4096", "cluster_size=512",
        "extended_l2=on,cluster_size=16384", "compat=0.10,cluster_size=4096", "cluster_size=4096,refcount_bits=64",
        "cluster_size=65536,lazy_refcounts=on", "cluster_size=4096 + bitmaps", "cluster_size=2097152");
    return IntStream.range(0, layouts.size()).boxed()
        .flatMap(i -> IntStream.range(0, 2).mapToObj(w -> Arguments.of(layouts.get(i), i * 1000L + w)));
  }

  /** What a completed operation left durable: the history length at its end, the snapshots by name, the active disk. */
  private record State(int history, String op, Map<String, byte[]> snapshots, byte[] active) {}

  // Each case has its own seed, image files and disks, and no timing in its verdict: cases run side by side
  // (CPU-bound; see vdisk-core's failsafe configuration).
  @ParameterizedTest(name = "{0}, seed {1}")
  @MethodSource("images")
  @Execution(ExecutionMode.CONCURRENT)
  void crashesKeepSnapshotsAndLeaveNoCorruption(String options, long seed) throws Exception {
    boolean bitmaps = options.endsWith(" + bitmaps");
    Path base = dir.resolve("base-" + seed + ".qcow2");
    String name = base.getFileName().toString();
    List<String> layout = new ArrayList<>(List.of("write -P 0x11 0 1M", "write -P 0x12 2M 512k", "write -z 3M 64k",
        "snapshot q0"));
    if (bitmaps) {
      layout.add("bitmap b1");
    }
    layout.add("write -P 0x13 512k 1M");
    CrashImages.make(dir, name, options.replace(" + bitmaps", ""), SIZE, layout.toArray(String[]::new));
    MemoryDevice start = new MemoryDevice(Files.size(base));
    start.write(0, ByteBuffer.wrap(Files.readAllBytes(base)), Set.of());
    CrashingDevice disk = new CrashingDevice(start);
    int clusterSize = 1 << ByteBuffer.wrap(Files.readAllBytes(base), 20, 4).getInt();
    Random random = new Random(seed);

    Map<String, byte[]> snapshots = new LinkedHashMap<>();
    snapshots.put("q0", readSnapshot(start, base, "q0"));
    byte[] active = readActive(start, base);
    List<State> states = new ArrayList<>();
    states.add(new State(0, "start", Map.copyOf(snapshots), active));
    for (int op = 0; op < OPS; op++) {
      int choice = random.nextInt(10);
      String opName;
      if (choice < 4) {
        opName = "write";
        active = writeSession(disk, base, clusterSize, random, active);
      } else if (choice < 7 || snapshots.isEmpty()) {
        opName = "create s" + op;
        InternalSnapshots.of(disk, base).create("s" + op, 1_700_000_000L + op, 0);
        snapshots.put("s" + op, active.clone());
      } else {
        List<String> names = new ArrayList<>(snapshots.keySet());
        String target = names.get(random.nextInt(names.size()));
        if (choice < 9) {
          opName = "apply " + target;
          if (bitmaps) {
            int before = disk.historyLength();
            assertThatThrownBy(() -> InternalSnapshots.of(disk, base).apply(target))
                .isInstanceOf(BlockDeviceException.class).hasMessage("Device has active dirty bitmaps");
            assertThat(disk.historyLength()).as("a refused apply writes nothing").isEqualTo(before);
            continue;
          }
          InternalSnapshots.of(disk, base).apply(target);
          active = snapshots.get(target).clone();
        } else {
          opName = "delete " + target;
          InternalSnapshots.of(disk, base).delete(target);
          snapshots.remove(target);
        }
      }
      operations.incrementAndGet();
      states.add(new State(disk.historyLength(), opName, Map.copyOf(snapshots), active));
      List<String> problems = new ArrayList<>();
      CheckResult clean = Qcow2Checker.check(disk.crash(disk.historyLength(), random, CrashingDevice.Tearing.NONE),
          problem -> problems.add(problem.message()));
      assertThat(clean.corruptions() + clean.leaks() + clean.checkErrors()).as("check after '%s': %s", opName, problems)
          .isZero();
    }

    int history = disk.historyLength();
    for (int i = 0; i < CRASHES_PER_WORKLOAD; i++) {
      int point = i == 0 ? history : random.nextInt(history + 1);
      checkCrash(disk.crash(point, random, CrashingDevice.Tearing.SECTORS), base, states, point,
          qemuHere && i % QEMU_EVERY == 0, seed + "-" + i);
      crashPoints.incrementAndGet();
    }
  }

  /** Opens the image on {@code disk}, makes a few random writes, zeroings and discards, and closes it. */
  private static byte[] writeSession(BlockDevice disk, Path base, int clusterSize, Random random, byte[] active)
      throws IOException {
    byte[] now = active.clone();
    try (Qcow2Image image = Qcow2Opener.open(disk, FileContext.of(base, new FileOptions(CacheMode.WRITEBACK, false,
        false, false)), new Qcow2Format(4L * clusterSize))) {
      for (int k = 0; k < 4; k++) {
        int at = random.nextInt(SIZE - 1);
        int len = 1 + random.nextInt(Math.min(SIZE - at, 3 * clusterSize));
        switch (random.nextInt(4)) {
          case 0, 1 -> {
            byte[] data = new byte[len];
            random.nextBytes(data);
            image.write(at, ByteBuffer.wrap(data), Set.<WriteFlag>of());
            System.arraycopy(data, 0, now, at, len);
          }
          case 2 -> {
            image.writeZeroes(at, len, Set.of());
            java.util.Arrays.fill(now, at, at + len, (byte) 0);
          }
          default -> {
            // Whole clusters only, so the model knows what reads as zeroes afterwards.
            int first = (at + clusterSize - 1) / clusterSize * clusterSize;
            int last = (at + len) / clusterSize * clusterSize;
            if (first < last) {
              image.discard(first, last - first);
              java.util.Arrays.fill(now, first, last, (byte) 0);
            }
          }
        }
      }
    }
    return now;
  }

  private static void checkCrash(MemoryDevice crashed, Path base, List<State> states, int point, boolean qemu,
      String name) throws Exception {
    State last = states.getFirst();
    State next = null;
    for (int i = 0; i < states.size(); i++) {
      if (states.get(i).history() <= point) {
        last = states.get(i);
        next = i + 1 < states.size() ? states.get(i + 1) : null;
      }
    }
    String where = "crash at " + point + " after '" + last.op() + "'" + (next == null ? "" : " during '" + next.op() + "'");
    ByteBuffer features = ByteBuffer.allocate(8);
    crashed.read(72, features);
    boolean dirty = (features.getLong(0) & Features.INCOMPAT_DIRTY) != 0;
    if (!dirty) {
      List<String> problems = new ArrayList<>();
      CheckResult r = Qcow2Checker.check(crashed, problem -> problems.add(problem.message()));
      assertThat(r.corruptions()).as("vdisk check corruptions after a %s: %s", where, problems).isZero();
      assertThat(r.checkErrors()).as("vdisk check errors after a %s", where).isZero();
      if (qemu) {
        Path file = dir.resolve("crash-" + name + ".qcow2");
        Qcow2CrashIT.save(crashed, file);
        String out = Qemu.imgAllowingExit(dir, 3, "check", "--output=json", file.getFileName().toString());
        Map<?, ?> check = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
        assertThat(check.get("corruptions")).as("qemu-img check after a %s: %s", where, check).isIn(null, 0L);
        Files.delete(file);
        qemuJudged.incrementAndGet();
      }
    }
    List<String> listed = new ArrayList<>();
    try (Qcow2Image img = Qcow2Opener.open(crashed, FileContext.of(base, FileOptions.of(CacheMode.WRITEBACK, true)),
        new Qcow2Format(1 << 20))) {
      for (Snapshot s : img.snapshots()) {
        listed.add(s.name());
      }
      for (String s : last.snapshots().keySet()) {
        if (next != null && next.op().equals("delete " + s) && !listed.contains(s)) {
          continue;
        }
        assertThat(listed).as("snapshots after a %s", where).contains(s);
      }
      Map<String, byte[]> expected = new HashMap<>(last.snapshots());
      if (next != null) {
        next.snapshots().forEach(expected::putIfAbsent);
      }
      for (String s : listed) {
        assertThat(expected).as("snapshot '%s' listed after a %s", s, where).containsKey(s);
        try (Qcow2Image snap = SnapshotReader.open(img, s, 1 << 20)) {
          assertThat(Vdisk.read(snap, 0, SIZE)).as("snapshot '%s' after a %s", s, where).isEqualTo(expected.get(s));
        }
      }
      if (next == null || !next.op().equals("write")) {
        byte[] got = Vdisk.read(img, 0, SIZE);
        boolean asBefore = java.util.Arrays.equals(got, last.active());
        boolean asAfter = next != null && java.util.Arrays.equals(got, next.active());
        assertThat(asBefore || asAfter).as("active layer after a %s: as before or after it", where).isTrue();
      }
    }
    CrashingDevice repaired = new CrashingDevice(crashed);
    Qcow2Checker.repair(repaired, dev.vdisk.format.Repair.ALL, problem -> {});
    CheckResult r = Qcow2Checker.check(repaired, problem -> {});
    assertThat(r.corruptions() + r.leaks() + r.checkErrors()).as("problems after the repair of a %s", where).isZero();
  }

  private static byte[] readActive(BlockDevice file, Path base) throws IOException {
    try (Qcow2Image img = Qcow2Opener.open(file, FileContext.of(base, FileOptions.of(CacheMode.WRITEBACK, true)),
        new Qcow2Format(1 << 20))) {
      return Vdisk.read(img, 0, SIZE);
    }
  }

  private static byte[] readSnapshot(BlockDevice file, Path base, String snapshot) throws IOException {
    try (Qcow2Image img = Qcow2Opener.open(file, FileContext.of(base, FileOptions.of(CacheMode.WRITEBACK, true)),
        new Qcow2Format(1 << 20)); Qcow2Image snap = SnapshotReader.open(img, snapshot, 1 << 20)) {
      return Vdisk.read(snap, 0, SIZE);
    }
  }

}
