package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.format.internal.Images;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.Preallocation;
import dev.vdisk.io.SimulatedHostFile;
import dev.vdisk.testkit.CrashingDevice;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
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
 * Power loss at many points of random workloads on qcow2 images that vdisk creates and writes (so it runs without
 * QEMU; qemu-img's judgement joins where it is installed, and must on CI): the image file sits on a
 * {@link CrashingDevice}, and each crash keeps every write covered by a completed flush plus a random subset of
 * the rest, torn at 512-byte sectors. Crash points cover the whole session, the close included. After each crash:
 *
 * <ul>
 *   <li>no corruption (leaks are allowed, as in QEMU) by vdisk's check, unless the dirty bit is set: with lazy
 *       refcounts the refcounts of a dirty image are behind by design, and QEMU repairs such an image when it opens
 *       it; for every {@value #QEMU_EVERY}th crash point of a workload (and any point vdisk finds corrupt)
 *       {@code qemu-img check} judges the crashed image too, dirty or not, and must report the same corruption, leak
 *       and check-error counts as vdisk's check;
 *   <li>every guest byte that no request changed after the last completed guest flush, FUA request or request
 *       under writethrough (each acknowledged as durable) reads back as it was then, before the repair and after;
 *   <li>vdisk's repair ({@code check -r all}) makes the image clean: no leaks, no corruption, no check error by
 *       vdisk's check, and for the same sample by {@code qemu-img check}; a crash after
 *       the clean close needs no repair at all;
 *   <li>for about one crash point in {@value #REPAIR_CRASH_EVERY}, a second power loss in the middle of the repair
 *       leaves no corruption the image did not already have, and a second repair makes it clean.
 * </ul>
 *
 * <p>Crash tests of other operations (snapshots, rebase, commit, amend) may reuse the guest model ({@link Model},
 * {@link #markFlushed}, {@link #snapshot}), {@link #readsBack} and {@link #save} (package-private for that), with
 * images from {@link CrashImages} and the disk from {@code CrashingDevice}.
 *
 * <p>Workloads: allocating and partial writes, overwrites, FUA writes, zeroes with and without MAY_TRIM,
 * discards, compressed cluster writes, growing resizes (L1 table moves included; some preallocated with metadata,
 * falloc or full: {@link GrowthPreallocation}), with lazy refcounts on and off,
 * over several cluster sizes, refcount widths, versions, extended L2 entries (subcluster allocation), overlays over
 * a backing file (copy-on-write from it), and a small L2 cache that forces write-back between flushes. Each workload runs under one of the cache modes that promise durability at a flush, in turn:
 * writeback, writethrough, none, directsync. {@code unsafe} is left out because it ignores flushes: it promises
 * nothing after a power loss, so there would be nothing to check. Under {@code none} and {@code directsync} the image
 * sits on a real {@link FileDevice} opened O_DIRECT on the simulated disk ({@link SimulatedHostFile}, which enforces
 * O_DIRECT's alignment, 4 KiB or 512 bytes by workload), so FileDevice's bounce buffers, read-modify-writes of partial
 * blocks and its flush are under the same power losses; the page-cache modes put the image on the disk directly.
 */
class Qcow2CrashIT {
  private static final int SIZE = 4 << 20;
  private static final int MAX_SIZE = 8 << 20;
  private static final int OPS = 60;
  private static final int CRASHES_PER_WORKLOAD = 160;
  /** Workloads per image layout: 3, times the {@code vdisk.soak} factor ({@code -Psoak} sets 10). */
  private static final int WORKLOADS = 3 * Integer.getInteger("vdisk.soak", 1);
  /** qemu-img judges every crash point whose index in its workload is a multiple of this (where it is installed). */
  private static final int QEMU_EVERY = 16;
  /** qemu-img is here to judge (required under CI=true). */
  private static boolean qemuHere;
  /** About one crash point in this many also loses power in the middle of its repair. */
  private static final int REPAIR_CRASH_EVERY = 4;
  private static final AtomicLong repairCrashes = new AtomicLong();
  private static final List<CacheMode> DURABLE_MODES =
      List.of(CacheMode.WRITEBACK, CacheMode.WRITETHROUGH, CacheMode.NONE, CacheMode.DIRECTSYNC);
  private static final Map<String, long[]> COUNTS = new TreeMap<>();
  private static final AtomicLong crashPoints = new AtomicLong();
  private static final AtomicLong workloads = new AtomicLong();
  private static final AtomicLong compressedWrites = new AtomicLong();
  private static final AtomicLong preallocatedGrowths = new AtomicLong();
  /** Crash points that qemu-img check judged, and of them those whose image was dirty (lazy refcounts). */
  private static final AtomicLong qemuJudged = new AtomicLong();
  private static final AtomicLong qemuJudgedDirty = new AtomicLong();
  /** Acknowledged FUA and writethrough requests, each asserted durable at every later crash point. */
  private static final AtomicLong durableAcks = new AtomicLong();

  @TempDir static Path dir;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  @AfterAll
  static void report() {
    System.out.println("Qcow2CrashIT: " + workloads + " workloads x crash points = " + crashPoints + " crashes checked, "
        + repairCrashes + " of them crashed again during their repair; " + compressedWrites + " compressed cluster writes; " + preallocatedGrowths + " preallocated growths; "
        + durableAcks + " FUA or writethrough acknowledgements; qemu-img check judged " + qemuJudged + " crashed images ("
        + qemuJudgedDirty + " dirty) and their repairs" + (qemuHere ? "" : " (qemu-img not installed)"));
    COUNTS.forEach((k, v) -> System.out.println("Qcow2CrashIT:   " + k + ": " + v[0] + " workloads, " + v[1] + " crash points"));
  }

  static Stream<Arguments> images() {
    List<String> layouts = List.of("cluster_size=65536", "cluster_size=4096", "cluster_size=512",
        "cluster_size=512,refcount_bits=1", "cluster_size=4096,refcount_bits=64", "compat=0.10,cluster_size=4096",
        "extended_l2=on,cluster_size=16384", "cluster_size=2097152");
    List<String> all = new ArrayList<>();
    for (String layout : layouts) {
      all.add(layout);
      if (!layout.startsWith("compat=0.10")) {
        all.add(layout + ",lazy_refcounts=on");
      }
    }
    all.addAll(List.of("extended_l2=on,cluster_size=65536,refcount_bits=8", "extended_l2=on,cluster_size=32768 + backing",
        "cluster_size=65536 + backing", "cluster_size=65536 + bitmaps", "cluster_size=4096,lazy_refcounts=on + bitmaps",
        "cluster_size=512,refcount_bits=1 + bitmaps"));
    return IntStream.range(0, all.size()).boxed().flatMap(i -> IntStream.range(0, WORKLOADS).mapToObj(w ->
        Arguments.of(all.get(i), DURABLE_MODES.get((i + w) % DURABLE_MODES.size()).name(), i * 1000L + w)));
  }

  /** The guest's view: the expected bytes and size, and which bytes changed after the last flush. */
  static final class Model {
    final byte[] now;
    long size = SIZE;
    byte[] atFlush;
    long sizeAtFlush = SIZE;
    int flushedAtHistory = 0;
    /** Per op since the last flush: the history length when it started, and its range. */
    final List<long[]> since = new ArrayList<>();

    /** @param initial the guest disk before the workload, {@link #MAX_SIZE} bytes */
    Model(byte[] initial) {
      now = initial.clone();
      atFlush = initial;
    }

    /** What a crash test needs of {@code m}: its last flush and what changed since (the arrays are never changed). */
    private Model(Model m) {
      now = null;
      atFlush = m.atFlush;
      sizeAtFlush = m.sizeAtFlush;
      flushedAtHistory = m.flushedAtHistory;
      since.addAll(m.since);
    }
  }

  // Each workload has its own seed, image files and disk, and no timing in its verdict: workloads run side by side
  // (the run is CPU-bound, one core per workload; see vdisk-core's failsafe configuration).
  @ParameterizedTest(name = "{0}, cache={1}, seed {2}")
  @MethodSource("images")
  @Execution(ExecutionMode.CONCURRENT)
  void crashesLeaveLeaksAtWorstKeepFlushedDataAndRepairClean(String options, String cacheName, long seed)
      throws Exception {
    CacheMode cache = CacheMode.PRESETS.stream().filter(m -> m.name().equals(cacheName)).findFirst().orElseThrow();
    Path base = dir.resolve("base-" + seed + ".qcow2");
    // Enabled bitmaps of QEMU's default and smallest granularity, and a disabled one that must stay empty.
    byte[] initial = CrashImages.create(dir, base.getFileName().toString(), options, SIZE, MAX_SIZE);
    boolean bitmaps = options.endsWith(" + bitmaps");
    MemoryDevice start = new MemoryDevice(Files.size(base));
    start.write(0, ByteBuffer.wrap(Files.readAllBytes(base)), Set.of());
    CrashingDevice disk = new CrashingDevice(start);
    int clusterSize = 1 << new ImageHeadProbe(base).clusterBits;
    Random random = new Random(seed);
    List<Model> flushes = new ArrayList<>();
    Model model = new Model(initial);
    FileOptions fileOptions = new FileOptions(cache, false, false, false);
    // O_DIRECT modes: FileDevice's direct path between the image and the disk, as in production.
    BlockDevice file = cache.direct()
        ? SimulatedHostFile.fileDevice(disk, base.getFileName().toString(), fileOptions, seed % 2 == 0 ? 4096 : 512)
        : disk;
    // A small L2 cache: dirty tables are written back between flushes too.
    Qcow2Image image = Qcow2Opener.open(file, FileContext.of(base, fileOptions), new Qcow2Format(4L * clusterSize));
    BlockDevice dev = new CheckedDevice(Images.applyCacheSwitches(image, cache));
    // Every request that marks the bitmaps, and where the open's marking of them as in use was durable.
    BitmapExpectation marks = bitmaps ? new BitmapExpectation(disk.historyLength(), new ArrayList<>()) : null;
    for (int op = 0; op < OPS; op++) {
      int historyBefore = disk.historyLength();
      int size = (int) model.size;
      boolean fua = false;
      long at;
      int len;
      if (random.nextInt(3) == 0) {
        at = (long) random.nextInt(size / clusterSize) * clusterSize;
        len = (int) Math.min(size - at, clusterSize * (1L + random.nextInt(3)));
      } else {
        at = random.nextInt(size - 1);
        len = 1 + random.nextInt((int) Math.min(size - at, 3L * clusterSize));
      }
      switch (random.nextInt(12)) {
        case 0, 1, 2, 3 -> {
          byte[] data = new byte[len];
          random.nextBytes(data);
          fua = random.nextInt(8) == 0;
          dev.write(at, ByteBuffer.wrap(data), fua ? Set.of(WriteFlag.FUA) : Set.of());
          System.arraycopy(data, 0, model.now, (int) at, len);
        }
        case 4 -> {
          fua = random.nextInt(8) == 0;
          Set<WriteFlag> flags = EnumSet.noneOf(WriteFlag.class);
          if (random.nextBoolean()) {
            flags.add(WriteFlag.MAY_TRIM);
          }
          if (fua) {
            flags.add(WriteFlag.FUA);
          }
          dev.writeZeroes(at, len, flags);
          Arrays.fill(model.now, (int) at, (int) at + len, (byte) 0);
        }
        case 5 -> {
          dev.discard(at, len);
          long first = (at + clusterSize - 1) / clusterSize * clusterSize;
          long last = (at + len) / clusterSize * clusterSize;
          if (at + len == size && last >= at) {
            // The partial cluster at the end of the image is discarded too, as QEMU does.
            last = at + len;
          }
          if (first < last) {
            Arrays.fill(model.now, (int) first, (int) last, (byte) 0);
          }
        }
        case 6 -> {
          // A growing resize, by a few sectors to a few clusters: the new bytes read as zeroes. Preallocated in
          // one of three (metadata, falloc or full: clusters mapped, refcount structures moved to the file's end).
          long grown = Math.min(MAX_SIZE, model.size + 512L * (1 + random.nextInt(64)) + (long) clusterSize * random.nextInt(3));
          Preallocation mode = random.nextInt(3) == 0 ? Preallocation.values()[1 + random.nextInt(3)] : Preallocation.OFF;
          if (mode == Preallocation.OFF) {
            dev.resize(grown);
          } else {
            image.growPreallocated(grown, mode);
            preallocatedGrowths.incrementAndGet();
          }
          model.size = grown;
          flushes.add(snapshot(model));
          continue;
        }
        case 7 -> {
          // One compressed cluster (compressible bytes); refused with EIO, changing nothing, where it is allocated.
          at -= at % clusterSize;
          len = (int) Math.min(size - at, clusterSize);
          byte[] data = new byte[len];
          for (int k = 0; k < len; k++) {
            data[k] = (byte) (k / 97 + random.nextInt(2));
          }
          try {
            dev.write(at, ByteBuffer.wrap(data), Set.of(WriteFlag.COMPRESSED));
          } catch (BlockDeviceException e) {
            assertThat(e.error()).as(e.getMessage()).isEqualTo(BlockError.EIO);
            if (marks != null) {
              // Marked all the same, as QEMU marks whatever a request's outcome.
              marks.ranges().add(new long[] {at, len});
            }
            continue;
          }
          compressedWrites.incrementAndGet();
          System.arraycopy(data, 0, model.now, (int) at, len);
        }
        default -> {
          dev.flush();
          markFlushed(model, disk);
          flushes.add(snapshot(model));
          continue;
        }
      }
      if (marks != null) {
        marks.ranges().add(new long[] {at, len});
      }
      model.since.add(new long[] {historyBefore, at, at + len});
      flushes.add(snapshot(model));
      if (fua || cache.writethrough()) {
        // Acknowledged as durable (a FUA request, or any request under writethrough): from its completion on every
        // crash point must keep it, and everything before it, since the stack flushes the whole image to honour it.
        markFlushed(model, disk);
        flushes.add(snapshot(model));
        durableAcks.incrementAndGet();
      }
    }
    assertThat(Vdisk.read(dev, 0, (int) model.size)).as("reads before any crash").isEqualTo(Arrays.copyOf(model.now, (int) model.size));
    // The close is part of the history: crashes may strike while it writes back (lazy) refcounts.
    image.close();
    markFlushed(model, disk);
    flushes.add(snapshot(model));

    int history = disk.historyLength();
    for (int i = 0; i < CRASHES_PER_WORKLOAD; i++) {
      int point = i == 0 ? history : random.nextInt(history + 1);
      checkCrash(disk, point, point == history, flushes, initial, random, qemuHere && i % QEMU_EVERY == 0, seed + "-" + i);
      if (marks != null) {
        bitmapsConsistentOrInUse(disk.crash(point, new Random(seed + i), CrashingDevice.Tearing.SECTORS), marks, point,
            model.size, "crash at " + point);
      }
    }
    workloads.incrementAndGet();
    String key = (options.contains("lazy_refcounts=on") ? "lazy_refcounts=on" : "lazy_refcounts=off") + ", cache=" + cacheName;
    synchronized (COUNTS) {
      long[] c = COUNTS.computeIfAbsent(key, k -> new long[2]);
      c[0]++;
      c[1] += CRASHES_PER_WORKLOAD;
    }
  }

  static void markFlushed(Model model, CrashingDevice disk) {
    model.atFlush = model.now.clone();
    model.sizeAtFlush = model.size;
    model.flushedAtHistory = disk.historyLength();
    model.since.clear();
  }

  static Model snapshot(Model m) {
    return new Model(m);
  }

  private void checkCrash(CrashingDevice disk, int point, boolean afterClose, List<Model> states, byte[] initial,
      Random random, boolean qemu, String name) throws Exception {
    // The newest guest state whose flush had completed by the crash point.
    Model state = null;
    for (Model m : states) {
      if (m.flushedAtHistory <= point) {
        state = m;
      }
    }
    MemoryDevice crashed = disk.crash(point, random, CrashingDevice.Tearing.SECTORS);
    // vdisk checks, repairs and reads the crashed disk in memory; qemu-img gets a file for a sample of the points.
    Path file = dir.resolve("crash-" + name + ".qcow2");
    String where = "crash at " + point + (afterClose ? " (after the close)" : "");
    ByteBuffer features = ByteBuffer.allocate(8);
    crashed.read(72, features);
    boolean dirty = (features.getLong(0) & Features.INCOMPAT_DIRTY) != 0;
    if (qemu) {
      sameVerdictAsQemuImg(crashed, file, dirty, where);
    }
    assertThat(!dirty || !afterClose).as("dirty bit clear after a clean close").isTrue();
    readsBack(crashed, file, state, initial, point, where);

    // Like a host file, the disk under the repair grows when written past its end (a rebuild may put new
    // refcount structures there).
    CrashingDevice repaired = new CrashingDevice(crashed);
    CheckResult found = Qcow2Checker.repair(repaired, Repair.ALL, problem -> {});
    if (!dirty) {
      // The repair's first pass is vdisk's check: what it found is what it fixed plus what is left.
      if (found.corruptions() + found.corruptionsFixed() + found.checkErrors() != 0 && qemuHere && !qemu) {
        // A failure to come: qemu-img's verdict on the same image goes into its report.
        sameVerdictAsQemuImg(crashed, file, false, where);
      }
      assertThat(found.corruptions() + found.corruptionsFixed()).as("vdisk check after a %s", where).isZero();
      assertThat(found.checkErrors()).as("check errors after a %s", where).isZero();
      if (afterClose) {
        assertThat(found.leaks() + found.leaksFixed()).as("leaks after a clean close").isZero();
      }
    }
    if (random.nextInt(REPAIR_CRASH_EVERY) == 0) {
      repairCrashes(repaired, dirty, random, file, where);
    }
    CheckResult r = Qcow2Checker.check(repaired, problem -> {});
    assertThat(r.corruptions()).as("corruptions after the repair of a %s", where).isZero();
    assertThat(r.leaks()).as("leaks after the repair of a %s", where).isZero();
    assertThat(r.checkErrors()).as("check errors after the repair of a %s", where).isZero();
    if (qemu) {
      save(repaired, file);
      // Exit 0: no corruption, no leak, no check error.
      Qemu.img(dir, "check", "-q", file.getFileName().toString());
      Files.delete(file);
    }
    readsBack(repaired, file, state, initial, point, where + ", repaired");
    crashPoints.incrementAndGet();
  }

  /**
   * qemu-img check's verdict on the crashed image (written to {@code file} for it) equals vdisk's check's: the
   * same corruption, leak and check-error counts, also for a dirty image with lazy refcounts, whose refcounts are
   * behind by design and which neither tool repairs without being asked. A clean image has no corruption.
   */
  private static void sameVerdictAsQemuImg(MemoryDevice crashed, Path file, boolean dirty, String where)
      throws IOException, InterruptedException {
    save(crashed, file);
    try {
      String out = Qemu.checkJson(dir, file.getFileName().toString());
      // Reports of leaks and errors come on stderr, which the helper merges in front of the JSON.
      Map<?, ?> qemu = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
      CheckResult vdisk = Qcow2Checker.check(crashed, problem -> {});
      String both = "after a " + where + (dirty ? " (dirty)" : "") + ": qemu-img " + qemu + ", vdisk " + vdisk;
      assertThat(List.of(vdisk.corruptions(), vdisk.leaks(), vdisk.checkErrors())).as("check counts %s", both)
          .isEqualTo(List.of(count(qemu, "corruptions"), count(qemu, "leaks"), count(qemu, "check-errors")));
      if (!dirty) {
        assertThat(vdisk.corruptions()).as("corruptions %s", both).isZero();
      }
    } finally {
      Files.delete(file);
    }
    qemuJudged.incrementAndGet();
    if (dirty) {
      qemuJudgedDirty.incrementAndGet();
    }
  }

  private static long count(Map<?, ?> check, String key) {
    return check.get(key) instanceof Number n ? n.longValue() : 0;
  }

  /**
   * A power loss during the repair itself: the image must then hold no corruption it did not have before (leaks
   * at worst), and a second repair must make it clean.
   */
  private static void repairCrashes(CrashingDevice repair, boolean dirty, Random random, Path file, String where)
      throws IOException {
    int point = random.nextInt(repair.historyLength() + 1);
    String when = where + ", then a crash at " + point + " of " + repair.historyLength() + " during its repair";
    CrashingDevice again = new CrashingDevice(repair.crash(point, random, CrashingDevice.Tearing.SECTORS));
    CheckResult found = Qcow2Checker.repair(again, Repair.ALL, problem -> {});
    if (!dirty) {
      assertThat(found.corruptions() + found.corruptionsFixed()).as("corruptions after a %s", when).isZero();
    }
    CheckResult r = Qcow2Checker.check(again, problem -> {});
    assertThat(r.corruptions() + r.leaks() + r.checkErrors()).as("problems after a second repair: %s", when).isZero();
    repairCrashes.incrementAndGet();
  }

  /**
   * The requests of a workload that mark the bitmaps ({@code {offset, length}} each), and the history length once
   * the open had marked the bitmaps in use.
   */
  private record BitmapExpectation(int inUseAt, List<long[]> ranges) {}

  /**
   * After a crash the bitmaps extension is still trusted (autoclear bit set) and each bitmap is either marked in use
   * or exactly what the session's requests made it: every granule a request touched set in the enabled bitmaps,
   * nothing in the disabled one; or, for a crash before the open had marked them, as they were (empty).
   */
  private static void bitmapsConsistentOrInUse(MemoryDevice crashed, BitmapExpectation marks, int point, long finalSize,
      String where) throws IOException {
    HostReader reader = new HostReader(crashed, "image file");
    ImageHead head = ImageHead.read(reader);
    assertThat(head.header().autoclearFeatures() & Features.AUTOCLEAR_BITMAPS).as("bitmaps autoclear bit after a %s", where)
        .isNotZero();
    BitmapTables tables = BitmapTables.read(reader, head.extensions().bitmaps().orElseThrow(), head.header().clusterSize(),
        head.header().size());
    assertThat(tables.entries()).extracting(BitmapEntry::name).containsExactly("b1", "b2", "b3");
    for (BitmapEntry e : tables.entries()) {
      if (e.inUse()) {
        continue;
      }
      long size = head.header().size();
      DirtyBitmap got = DirtyBitmap.load(reader, e, head.header().clusterSize(), size);
      DirtyBitmap expected = DirtyBitmap.empty(e.granularityBits(), size);
      if (point >= marks.inUseAt()) {
        assertThat(size).as("virtual size of a bitmap stored at the close, after a %s", where).isEqualTo(finalSize);
        for (long[] r : e.auto() ? marks.ranges() : List.<long[]>of()) {
          expected.set(r[0], r[1]);
        }
      }
      for (long g = 0; g < expected.granules(); g++) {
        if (got.get(g) != expected.get(g)) {
          throw new AssertionError(where + ": bitmap " + e.name() + " granule " + g + " is " + got.get(g)
              + " (expected: " + expected.get(g) + ", or the bitmap marked in use)");
        }
      }
    }
  }

  /** Every byte not changed since the flush of {@code state} reads as it was then. */
  static void readsBack(BlockDevice disk, Path file, Model state, byte[] initial, int point, String where)
      throws IOException {
    long flushedSize = state == null ? SIZE : state.sizeAtFlush;
    byte[] expected = state == null ? initial : state.atFlush;
    // The ranges of the requests begun before the crash but not yet covered by a flush, by start.
    List<long[]> unsure = new ArrayList<>();
    if (state != null) {
      for (long[] op : state.since) {
        if (op[0] < point) {
          unsure.add(new long[] {op[1], op[2]});
        }
      }
    } else {
      unsure.add(new long[] {0, MAX_SIZE});
    }
    unsure.sort(Comparator.comparingLong(r -> r[0]));
    unsure.add(new long[] {flushedSize, flushedSize});
    try (Qcow2Image img = Qcow2Opener.open(disk, FileContext.of(file, FileOptions.of(CacheMode.WRITEBACK, true)),
        new Qcow2Format(1 << 20))) {
      assertThat(img.size()).as("virtual size after a %s", where).isGreaterThanOrEqualTo(flushedSize);
      byte[] got = Vdisk.read(img, 0, (int) flushedSize);
      int sure = 0;
      for (long[] r : unsure) {
        int end = (int) Math.min(r[0], flushedSize);
        int bad = sure < end ? Arrays.mismatch(got, sure, end, expected, sure, end) : -1;
        if (bad >= 0) {
          int b = sure + bad;
          throw new AssertionError(where + ": byte " + b + " reads " + got[b] + ", flushed " + expected[b]);
        }
        sure = (int) Math.max(sure, r[1]);
      }
    }
  }

  /** Writes the bytes of {@code d} to a new file (for qemu-img). */
  static void save(BlockDevice d, Path file) throws IOException {
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
