package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.BitmapEdit;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Power loss during {@code qemu-img bitmap}'s operations ({@link BitmapEditor}: add, remove, clear, enable, disable,
 * merge, each stored at the close by {@link PersistentBitmaps}) and the write sessions between them, on a
 * {@link CrashingDevice} that keeps every flushed write and a random subset of the rest, torn at 512-byte sectors.
 * After each crash:
 *
 * <ul>
 *   <li>no corruption and no check error by vdisk's check and, every {@value #QEMU_EVERY}th point where qemu-img is
 *       installed (it must be on CI), by {@code qemu-img check};
 *   <li>the bitmap directory reads, and it lists the bitmaps as the last completed operation left them or as the one
 *       in progress leaves them; each bitmap not marked in use has the flags, granularity and bits of one of those
 *       two states (a bitmap in use is QEMU's "inconsistent": left to {@code --remove} or a repair);
 *   <li>the guest data reads as the last completed operation left it, unless a write session was in progress.
 * </ul>
 *
 * vdisk makes the images ({@link CrashImages#make}), so the test runs where QEMU is not installed.
 */
class BitmapCrashIT {
  private static final int SIZE = 4 << 20;
  private static final int OPS = 16;
  private static final int CRASHES_PER_WORKLOAD = 160 * Integer.getInteger("vdisk.soak", 1);
  private static final int QEMU_EVERY = 15;
  private static boolean qemuHere;
  private static long crashPoints;
  private static long operations;
  private static long qemuJudged;

  @TempDir static Path dir;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  @AfterAll
  static void report() {
    System.out.println("BitmapCrashIT: " + operations + " bitmap operations and write sessions, " + crashPoints
        + " crash points checked, " + qemuJudged + " of them by qemu-img check too"
        + (qemuHere ? "" : " (qemu-img not installed)"));
  }

  static Stream<Arguments> layouts() {
    return Stream.of(Arguments.of("cluster_size=65536", 0L), Arguments.of("cluster_size=4096", 1L),
        Arguments.of("cluster_size=512,refcount_bits=1", 2L), Arguments.of("cluster_size=65536,lazy_refcounts=on", 3L),
        Arguments.of("extended_l2=on,cluster_size=16384", 4L));
  }

  /** What a completed operation left: the history length at its end, the bitmaps (name to state), the guest data. */
  private record State(int history, String op, Map<String, String> bitmaps, byte[] guest) {}

  @ParameterizedTest(name = "{0}")
  @MethodSource("layouts")
  void crashesLeaveTheBitmapsAsBeforeOrAfterTheOperation(String options, long seed) throws Exception {
    Path base = CrashImages.make(dir, "bitmaps-" + seed + ".qcow2", options, SIZE, "write -P 0x11 0 1M", "bitmap b0",
        "write -P 0x12 512k 64k", "bitmap b1");
    MemoryDevice start = new MemoryDevice(Files.size(base));
    start.write(0, ByteBuffer.wrap(Files.readAllBytes(base)), Set.of());
    CrashingDevice disk = new CrashingDevice(start);
    Random random = new Random(seed);
    List<State> states = new ArrayList<>(List.of(state(start, base, 0, "start")));
    List<String> names = new ArrayList<>(List.of("b0", "b1"));
    int added = 2;
    for (int op = 0; op < OPS; op++) {
      String opName;
      try (Qcow2Image image = open(disk, base, false)) {
        int choice = random.nextInt(8);
        String target = names.isEmpty() ? null : names.get(random.nextInt(names.size()));
        if (choice < 3 || target == null) {
          opName = "write";
          for (int k = 0; k < 3; k++) {
            int at = random.nextInt(SIZE - 1);
            byte[] data = new byte[1 + random.nextInt(Math.min(SIZE - at, 200_000))];
            random.nextBytes(data);
            image.write(at, ByteBuffer.wrap(data), Set.<WriteFlag>of());
          }
        } else if (choice == 3) {
          String name = "b" + added++;
          opName = "add " + name;
          image.editBitmap(name, BitmapEdit.add(random.nextBoolean() ? 0 : 512L << random.nextInt(6)));
          names.add(name);
        } else if (choice == 4) {
          opName = "remove " + target;
          image.editBitmap(target, BitmapEdit.of(BitmapEdit.Op.REMOVE));
          names.remove(target);
        } else if (choice == 5) {
          opName = "clear " + target;
          image.editBitmap(target, BitmapEdit.of(BitmapEdit.Op.CLEAR));
        } else if (choice == 6) {
          BitmapEdit.Op flip = random.nextBoolean() ? BitmapEdit.Op.ENABLE : BitmapEdit.Op.DISABLE;
          opName = flip + " " + target;
          image.editBitmap(target, BitmapEdit.of(flip));
        } else {
          List<String> others = names.stream().filter(n -> !n.equals(target)).toList();
          String source = others.isEmpty() ? target : others.get(random.nextInt(others.size()));
          opName = "merge " + source + " into " + target;
          image.editBitmap(target, BitmapEdit.merge(source, null));
        }
      }
      operations++;
      MemoryDevice done = disk.crash(disk.historyLength(), random, CrashingDevice.Tearing.NONE);
      CheckResult clean = Qcow2Checker.check(done, problem -> {});
      assertThat(clean.corruptions() + clean.leaks() + clean.checkErrors()).as("check after '%s'", opName).isZero();
      State s = state(done, base, disk.historyLength(), opName);
      assertThat(s.bitmaps().values()).as("bitmaps after '%s'", opName).doesNotContain("in use");
      states.add(s);
    }

    int history = disk.historyLength();
    for (int i = 0; i < CRASHES_PER_WORKLOAD; i++) {
      int point = i == 0 ? history : random.nextInt(history + 1);
      checkCrash(disk.crash(point, random, CrashingDevice.Tearing.SECTORS), base, states, point,
          qemuHere && i % QEMU_EVERY == 0, seed + "-" + i);
      crashPoints++;
    }
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
    if ((features.getLong(0) & Features.INCOMPAT_DIRTY) == 0) {
      List<String> problems = new ArrayList<>();
      CheckResult r = Qcow2Checker.check(crashed, problem -> problems.add(problem.message()));
      assertThat(r.corruptions()).as("vdisk check corruptions after a %s: %s", where, problems).isZero();
      assertThat(r.checkErrors()).as("vdisk check errors after a %s: %s", where, problems).isZero();
      if (qemu) {
        Path file = dir.resolve("crash-" + name + ".qcow2");
        Qcow2CrashIT.save(crashed, file);
        String out = Qemu.imgAllowingExit(dir, 3, "check", "--output=json", file.getFileName().toString());
        Map<?, ?> check = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
        assertThat(check.get("corruptions")).as("qemu-img check after a %s: %s", where, check).isIn(null, 0L);
        assertThat(check.get("check-errors")).as("qemu-img check after a %s: %s", where, check).isIn(null, 0L);
        Files.delete(file);
        qemuJudged++;
      }
    }
    State got = state(crashed, base, point, "crashed");
    List<Map<String, String>> allowed = next == null ? List.of(last.bitmaps()) : List.of(last.bitmaps(), next.bitmaps());
    assertThat(allowed.stream().anyMatch(m -> m.keySet().equals(got.bitmaps().keySet())))
        .as("bitmaps listed after a %s: %s (expected: %s)", where, got.bitmaps().keySet(),
            allowed.stream().map(Map::keySet).toList()).isTrue();
    got.bitmaps().forEach((bitmap, s) -> {
      if (!s.equals("in use")) {
        assertThat(allowed.stream().map(m -> m.get(bitmap)).toList()).as("bitmap %s after a %s", bitmap, where)
            .contains(s);
      }
    });
    if (next == null || !next.op().equals("write")) {
      // A bitmap operation leaves the guest data alone (an unflushed write session may leave any mix of its writes).
      assertThat(Arrays.equals(got.guest(), last.guest())).as("guest data after a %s: as before it", where).isTrue();
    }
  }

  /**
   * The image's state in {@code file}: each bitmap as "in use", or its flags, granularity and set runs; and the guest
   * data. A dirty image (lazy refcounts) is read from a repaired copy, as QEMU would repair it at open.
   */
  private static State state(MemoryDevice file, Path base, int history, String op) throws IOException {
    CrashingDevice copy = new CrashingDevice(file);
    ByteBuffer features = ByteBuffer.allocate(8);
    copy.read(72, features);
    if ((features.getLong(0) & Features.INCOMPAT_DIRTY) != 0) {
      Qcow2Checker.repair(copy, Repair.ALL, problem -> {});
    }
    HostReader reader = new HostReader(copy, "image file");
    ImageHead head = ImageHead.read(reader);
    Map<String, String> bitmaps = new TreeMap<>();
    if ((head.header().autoclearFeatures() & Features.AUTOCLEAR_BITMAPS) != 0
        && head.extensions().bitmaps().isPresent()) {
      int clusterSize = head.header().clusterSize();
      long size = head.header().size();
      BitmapTables tables = BitmapTables.read(reader, head.extensions().bitmaps().orElseThrow(), clusterSize, size);
      for (BitmapEntry e : tables.entries()) {
        if (e.inUse()) {
          bitmaps.put(e.name(), "in use");
          continue;
        }
        DirtyBitmap bits = DirtyBitmap.load(reader, e, clusterSize, size);
        StringBuilder runs = new StringBuilder();
        for (long[] r : bits.runs(0, size)) {
          if (r[2] == 1) {
            runs.append(' ').append(r[0]).append('+').append(r[1]);
          }
        }
        bitmaps.put(e.name(), (e.auto() ? "enabled" : "disabled") + ", granularity " + (1L << e.granularityBits())
            + ", set:" + runs);
      }
    }
    try (Qcow2Image img = open(copy, base, true)) {
      return new State(history, op, bitmaps, Vdisk.read(img, 0, SIZE));
    }
  }

  private static Qcow2Image open(BlockDevice disk, Path base, boolean readOnly) throws IOException {
    return Qcow2Opener.open(disk, FileContext.of(base, new FileOptions(CacheMode.WRITEBACK, readOnly, readOnly, false)),
        new Qcow2Format(1 << 16));
  }
}
