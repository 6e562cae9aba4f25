package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.Backing;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.Repair;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.ops.Progress;
import dev.vdisk.ops.internal.Commit;
import dev.vdisk.ops.internal.Rebase;
import dev.vdisk.testkit.CrashingDevice;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
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
 * Power loss during {@code rebase} and {@code commit} (the operations of {@link Rebase} and {@link Commit} as the CLI
 * runs them): every image that the operation writes sits on a {@link CrashingDevice} (unflushed writes kept or
 * lost per 512-byte sector), images it only reads in memory. Crash points cover the whole operation, the header
 * change of a rebase and the emptying after a commit included; a commit writes two disks, which lose power at the
 * same moment. After each crash:
 *
 * <ul>
 *   <li>no corruption in any written image, by vdisk's check and, every {@value #QEMU_EVERY}th point, by
 *       {@code qemu-img check} (unless lazy refcounts left the image dirty, which QEMU repairs at open);
 *   <li>every guest byte of the top image reads as before the operation, which is also as after it (neither
 *       operation changes what the top image reads), whatever backing file its header names by then;
 *   <li>{@code check -r all} makes every written image clean, and the top still reads the same.
 * </ul> *
 * <p>vdisk makes the images ({@link CrashImages#make}), so the test runs where QEMU is not installed;
 * {@code qemu-img check} judges where it is (and must be on CI).
 */
class ChainCrashIT {
  private static final int SIZE = 8 << 20;
  private static final int CRASHES = 60;
  private static final int QEMU_EVERY = 15;
  private static final AtomicLong crashPoints = new AtomicLong();
  private static boolean qemuHere;
  private static final AtomicLong qemuJudged = new AtomicLong();

  @TempDir static Path dir;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  @AfterAll
  static void report() {
    System.out.println("ChainCrashIT: " + crashPoints + " crash points checked, " + qemuJudged
        + " crashed images judged by qemu-img check too" + (qemuHere ? "" : " (qemu-img not installed)"));
  }

  static Stream<Arguments> cases() {
    List<Arguments> all = new ArrayList<>();
    List<String> layouts = List.of("cluster_size=65536", "cluster_size=4096", "cluster_size=512",
        "cluster_size=65536,lazy_refcounts=on", "cluster_size=65536,extended_l2=on", "cluster_size=65536 + bitmaps");
    long seed = 0;
    for (String layout : layouts) {
      for (String op : List.of("rebase onto new", "rebase flatten", "rebase onto base", "commit", "commit -b base")) {
        all.add(Arguments.of(layout, op, seed++));
      }
    }
    return all.stream();
  }

  // Each case has its own seed, image files and disks, and no timing in its verdict: cases run side by side
  // (CPU-bound; see vdisk-core's failsafe configuration).
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("cases")
  @Execution(ExecutionMode.CONCURRENT)
  void crashesLeaveTheTopReadingTheSame(String layout, String op, long seed) throws Exception {
    String tag = "c" + seed + "-";
    String options = layout.replace(" + bitmaps", "");
    boolean deep = op.equals("commit -b base") || op.equals("rebase onto base");
    // base <- (mid <-) top, and a new image for rebase: data, zeroes and discards in each.
    // Made by vdisk (CrashImages.make, in qemu-img's and qemu-io's words), so the test runs without QEMU.
    CrashImages.make(dir, tag + "base.qcow2", options, 6 << 20, "write -P 0x11 0 4M", "write -z 1M 64k");
    String below = tag + "base.qcow2";
    if (deep) {
      CrashImages.make(dir, tag + "mid.qcow2", options + ",backing_file=" + below + ",backing_fmt=qcow2", SIZE,
          "write -P 0x22 2M 1M", "write -z 3M 128k", "discard 0 64k");
      below = tag + "mid.qcow2";
    }
    List<String> topCommands = new ArrayList<>(List.of("write -P 0x33 100k 5000", "write -z 2M 64k", "discard 3M 64k",
        "write -P 0x44 5M 1M", "write -P 0x55 7M 4k"));
    if (layout.endsWith(" + bitmaps")) {
      topCommands.add("bitmap b1");
    }
    CrashImages.make(dir, tag + "top.qcow2", options + ",backing_file=" + below + ",backing_fmt=qcow2", SIZE,
        topCommands.toArray(String[]::new));
    CrashImages.make(dir, tag + "new.qcow2", "", 4 << 20, "write -P 0x11 0 1M", "write -P 0x66 1M 1M");

    TestImages files = new TestImages(dir, tag);
    byte[] expected = files.view(files.topStart, files.baseStart);
    boolean commit = op.startsWith("commit");
    CrashingDevice top = new CrashingDevice(files.topStart.copy());
    CrashingDevice base = new CrashingDevice(files.baseStart.copy());
    Timeline timeline = new Timeline(base, top);
    BlockDevice topFile = timeline.watch(top);
    BlockDevice baseFile = timeline.watch(base);
    Random random = new Random(seed);
    CacheMode cache = CacheMode.WRITEBACK;
    if (commit) {
      try (OpenImage image = Images.open(topFile, files.context(tag + "top.qcow2", false, baseFile), "qcow2", cache)) {
        ImageChain chain = image.chain(dir.resolve(tag + "top.qcow2"));
        int depth = chain.layers().size() - 1;
        Commit.commitInto(chain, depth, 0, Progress.NONE);
        chain.layers().get(depth).device().flush();
        if (!deep) {
          Commit.makeEmpty(image.device());
        }
      }
    } else {
      try (OpenImage image = Images.open(topFile, files.context(tag + "top.qcow2", false, null), "qcow2", cache)) {
        ImageChain chain = image.chain(dir.resolve(tag + "top.qcow2"));
        OpenImage fresh = op.equals("rebase onto new") ? files.open(tag + "new.qcow2") : null;
        BlockDevice target = switch (op) {
          case "rebase onto new" -> fresh.device();
          case "rebase onto base" -> chain.layers().getLast().device();
          default -> null;
        };
        Rebase.copyDifferences(chain, target, Progress.NONE);
        image.device().flush();
        if (fresh != null) {
          fresh.close();
        }
      }
      Optional<String> name = switch (op) {
        case "rebase onto new" -> Optional.of(tag + "new.qcow2");
        case "rebase onto base" -> Optional.of(tag + "base.qcow2");
        default -> Optional.empty();
      };
      new Qcow2Format().changeBacking(topFile, name, name.map(n -> "qcow2"));
    }
    assertThat(files.view(top.crash(top.historyLength(), random, CrashingDevice.Tearing.NONE),
        base.crash(base.historyLength(), random, CrashingDevice.Tearing.NONE)))
        .as("the top reads the same after the operation").isEqualTo(expected);

    int points = timeline.length();
    for (int i = 0; i < CRASHES; i++) {
      int point = i == 0 ? points - 1 : random.nextInt(points);
      int[] at = timeline.at(point);
      MemoryDevice crashedTop = top.crash(at[1], random, CrashingDevice.Tearing.SECTORS);
      MemoryDevice crashedBase = base.crash(at[0], random, CrashingDevice.Tearing.SECTORS);
      String where = op + ", crash at " + point + " of " + points + " (base " + at[0] + ", top " + at[1] + ")";
      boolean judge = qemuHere && i % QEMU_EVERY == 0;
      noCorruption(crashedTop, tag + "top.qcow2", judge, where, files);
      if (commit) {
        noCorruption(crashedBase, tag + "base.qcow2", judge, where, files);
      }
      assertThat(files.view(crashedTop, crashedBase)).as("top reads as before after a %s", where).isEqualTo(expected);
      CrashingDevice repairedTop = repairedClean(crashedTop, tag + "top.qcow2", where);
      CrashingDevice repairedBase = commit ? repairedClean(crashedBase, tag + "base.qcow2", where) : null;
      assertThat(files.view(repaired(repairedTop), commit ? repaired(repairedBase) : crashedBase))
          .as("top reads as before after the repair of a %s", where).isEqualTo(expected);
      crashPoints.incrementAndGet();
    }
  }

  private static void noCorruption(MemoryDevice image, String name, boolean qemu, String where, TestImages files)
      throws Exception {
    if (dirty(image)) {
      return;
    }
    CheckResult r = new Qcow2Format().check(image, dir.resolve(name), p -> {});
    assertThat(r.corruptions()).as("corruptions in %s after a %s", name, where).isZero();
    assertThat(r.checkErrors()).as("check errors in %s after a %s", name, where).isZero();
    if (qemu) {
      // qemu-img check opens the backing chain too: the crashed image replaces the file in the test's folder.
      Path saved = dir.resolve("crashed-" + name);
      Qcow2CrashIT.save(image, saved);
      // Exit 0 or 3 (leaks); leak reports come on stderr, merged in front of the JSON.
      String out = Qemu.imgAllowingExit(dir, 3, "check", "--output=json", "-U", saved.getFileName().toString());
      Map<?, ?> check = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
      assertThat(check.get("corruptions")).as("qemu-img check of %s after a %s: %s", name, where, check).isIn(null, 0L);
      Files.delete(saved);
      qemuJudged.incrementAndGet();
    }
  }

  private static boolean dirty(BlockDevice image) throws IOException {
    ByteBuffer features = ByteBuffer.allocate(8);
    image.read(Qcow2Header.INCOMPATIBLE_FEATURES_FIELD, features);
    return (features.getLong(0) & Features.INCOMPAT_DIRTY) != 0;
  }

  /** {@code check -r all} of a copy of {@code image}, which must leave it clean. */
  private static CrashingDevice repairedClean(MemoryDevice image, String name, String where)
      throws IOException {
    CrashingDevice copy = new CrashingDevice(image);
    new Qcow2Format().repair(copy, dir.resolve(name), Repair.ALL, p -> {});
    List<String> problems = new ArrayList<>();
    CheckResult r = new Qcow2Format().check(copy, dir.resolve(name), p -> problems.add(p.toString()));
    assertThat(r.corruptions() + r.leaks() + r.checkErrors())
        .as("problems in %s after the repair of a %s: %s %s", name, where, r, problems.stream().limit(5).toList()).isZero();
    return copy;
  }

  private static MemoryDevice repaired(CrashingDevice device) {
    return device.crash(device.historyLength(), new Random(0), CrashingDevice.Tearing.NONE);
  }

  /**
   * The moments of a run over two disks: after every change or flush of either, how long each disk's history was,
   * so that one power loss strikes both at the same moment.
   */
  private static final class Timeline {
    private final CrashingDevice base;
    private final CrashingDevice top;
    private final List<int[]> marks = new ArrayList<>();

    Timeline(CrashingDevice base, CrashingDevice top) {
      this.base = base;
      this.top = top;
      mark();
    }

    synchronized void mark() {
      marks.add(new int[] {base.historyLength(), top.historyLength()});
    }

    synchronized int length() {
      return marks.size();
    }

    synchronized int[] at(int point) {
      return marks.get(point);
    }

    /** {@code disk}, marking the timeline after each of its changes and flushes. */
    BlockDevice watch(CrashingDevice disk) {
      return new FilterDevice(disk) {
        @Override
        public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
          super.write(offset, src, flags);
          mark();
        }

        @Override
        public void flush() throws IOException {
          super.flush();
          mark();
        }

        @Override
        public void discard(long offset, long length) throws IOException {
          super.discard(offset, length);
          mark();
        }

        @Override
        public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
          super.writeZeroes(offset, length, flags);
          mark();
        }

        @Override
        public void resize(long newSize) throws IOException {
          super.resize(newSize);
          mark();
        }

        @Override
        public void close() {}
      };
    }
  }

  /** The test's images in memory: what each file held before the operation, and how the top reads. */
  private static final class TestImages {
    final Path dir;
    final String tag;
    final MemoryDevice topStart;
    final MemoryDevice baseStart;
    /** mid and new, which no operation writes. */
    final Map<String, MemoryDevice> others = new HashMap<>();

    TestImages(Path dir, String tag) throws IOException {
      this.dir = dir;
      this.tag = tag;
      this.topStart = load(tag + "top.qcow2");
      this.baseStart = load(tag + "base.qcow2");
      for (String name : List.of("mid.qcow2", "new.qcow2")) {
        if (Files.exists(dir.resolve(tag + name))) {
          others.put(tag + name, load(tag + name));
        }
      }
    }

    private MemoryDevice load(String name) throws IOException {
      byte[] bytes = Files.readAllBytes(dir.resolve(name));
      MemoryDevice d = new MemoryDevice(bytes.length);
      d.write(0, ByteBuffer.wrap(bytes), Set.of());
      return d;
    }

    /** A read-only image of the test that is not written: mid or new. */
    OpenImage open(String name) throws IOException {
      return Images.open(others.get(name).copy(), context(name, true, null), "qcow2", CacheMode.WRITEBACK);
    }

    /** All the guest bytes of the top image in {@code top}, over the base in {@code base}. */
    byte[] view(MemoryDevice top, MemoryDevice base) throws IOException {
      ImageContext context = context(tag + "top.qcow2", true, null);
      MemoryDevice baseNow = base;
      ImageContext withBase = new ImageContext() {
        @Override
        public Path name() {
          return context.name();
        }

        @Override
        public boolean readOnly() {
          return true;
        }

        @Override
        public BlockDevice openDataFile(String file) throws IOException {
          return context.openDataFile(file);
        }

        @Override
        public Optional<Backing> openBacking(String file, Optional<String> format) throws IOException {
          return TestImages.this.backing(file, format, baseNow);
        }
      };
      try (OpenImage image = Images.open(top.copy(), withBase, "qcow2", CacheMode.WRITEBACK)) {
        return Vdisk.read(image.device(), 0, SIZE);
      }
    }

    /**
     * A context that opens the test's images by name from memory: the base from {@code base} (writable unless
     * {@code readOnly}, shared, never closed), mid and new read-only.
     */
    ImageContext context(String name, boolean readOnly, BlockDevice base) {
      return new ImageContext() {
        @Override
        public Path name() {
          return dir.resolve(name);
        }

        @Override
        public boolean readOnly() {
          return readOnly;
        }

        @Override
        public BlockDevice openDataFile(String file) throws IOException {
          throw new BlockDeviceException(BlockError.ENOTSUP, "data file " + file);
        }

        @Override
        public Optional<Backing> openBacking(String file, Optional<String> format) throws IOException {
          return backing(file, format, base == null ? baseStart : base);
        }
      };
    }

    private Optional<Backing> backing(String file, Optional<String> format, BlockDevice base)
        throws IOException {
      boolean isBase = file.equals(tag + "base.qcow2");
      BlockDevice device = isBase ? base : others.get(file);
      if (device == null) {
        throw new BlockDeviceException(BlockError.EINVAL, "backing file " + file + " (expected: one of the test's)");
      }
      // The base on a crashing disk is the one a commit writes; images in memory are read only.
      boolean writable = !(device instanceof MemoryDevice);
      BlockDevice bytes = device instanceof MemoryDevice m ? m.copy() : device;
      OpenImage image = Images.open(bytes, context(file, !writable, base), format.orElse("qcow2"), CacheMode.WRITEBACK);
      return Optional.of(new Backing(file, dir.resolve(file), image.format().name(), format.isEmpty(), image.device(),
          null));
    }
  }
}
