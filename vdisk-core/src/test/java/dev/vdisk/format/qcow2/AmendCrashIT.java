package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
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
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Power loss during {@code qemu-img amend}'s rewrites ({@link Qcow2Amender}): refcount width changes (the new
 * blocks and table, then the header switch), compat upgrades and downgrades (zero clusters expanded, then the
 * header), lazy refcounts, on images vdisk made in qemu-img's and qemu-io's words ({@link CrashImages#make}), so
 * that the test runs where QEMU is not installed ({@code qemu-img check} judges where it is, and must on CI). The image file sits on a {@link CrashingDevice};
 * every crash point of the amend is tried {@value #TRIES} times (each keeps what was flushed and a random subset of
 * the rest, torn at 512-byte sectors), and after each:
 *
 * <ul>
 *   <li>vdisk's check finds no corruption and no check error (leaks are allowed), and for every
 *       {@value #QEMU_EVERY}th crash neither does {@code qemu-img check};
 *   <li>the header is the old one or the new one (version and refcount width);
 *   <li>the guest's whole disk reads as before the amend;
 *   <li>running the amend again on the crashed image completes it: the result has the new header, no corruption and
 *       the same guest data.
 * </ul>
 *
 * The amend without a crash leaves no leak at all.
 */
class AmendCrashIT {
  private static final int SIZE = 4 << 20;
  private static final int QEMU_EVERY = 10;
  /** Crashes per point: which unflushed writes survive, and which of their sectors, is chosen at random each time. */
  private static final int TRIES = 8;
  private static long crashPoints;
  private static boolean qemuHere;
  private static long qemuJudged;

  @TempDir static Path dir;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  @AfterAll
  static void report() {
    System.out.println("AmendCrashIT: " + crashPoints + " crash points checked, " + qemuJudged + " of them by qemu-img "
        + "check too" + (qemuHere ? "" : " (qemu-img not installed)"));
  }

  /** Layout (qemu-img create options, then qemu-io commands; "snapshot", "bitmap", "backing" add those), -o. */
  static Stream<Arguments> amends() {
    String data = "write -P 1 0 1M;write -z 1M 256k;write -c -P 3 2M 64k;write -P 4 3M 8k";
    return Stream.of(
        Arguments.of("cluster_size=65536", data, "refcount_bits=1"),
        Arguments.of("cluster_size=65536", data, "refcount_bits=64"),
        Arguments.of("cluster_size=4096", data, "refcount_bits=8"),
        Arguments.of("cluster_size=512,refcount_bits=64", data, "refcount_bits=8"),
        Arguments.of("cluster_size=65536", data, "compat=0.10"),
        Arguments.of("cluster_size=4096", data + ";write -z 256k 8k", "compat=0.10"),
        Arguments.of("cluster_size=65536 backing", "write -z 0 128k;write -z 1M 64k;write -P 6 3M 4k", "compat=0.10"),
        Arguments.of("cluster_size=65536 snapshot", data + ";snapshot;write -z 0 512k;write -P 9 3M 4k", "compat=0.10"),
        Arguments.of("cluster_size=65536 bitmap", data, "compat=0.10"),
        Arguments.of("compat=0.10,cluster_size=4096", "write -P 1 0 1M;write -P 2 3M 64k", "compat=1.1,refcount_bits=4"),
        Arguments.of("compat=0.10,cluster_size=65536 backing", "write -P 6 3M 4k", "compat=1.1"),
        Arguments.of("cluster_size=65536", data, "lazy_refcounts=on,refcount_bits=32"),
        Arguments.of("cluster_size=4096,lazy_refcounts=on", data, "lazy_refcounts=off,refcount_bits=16,compat=0.10"));
  }

  @ParameterizedTest(name = "{0}: {2}")
  @MethodSource("amends")
  void crashesLeaveTheOldOrTheNewImage(String layout, String commands, String options) throws Exception {
    Path file = image(layout, commands);
    MemoryDevice start = load(file);
    byte[] guest = guestData(start, file);
    Qcow2Header before = ImageHead.read(new HostReader(start, "image file")).header();
    Map<String, String> amend = OptionString.parse(options);
    CrashingDevice disk = new CrashingDevice(start);
    Qcow2Amender.amend(disk, file, amend, f -> {}, p -> {});
    Qcow2Header after = ImageHead.read(new HostReader(disk, "image file")).header();
    CheckResult clean = Qcow2Checker.check(disk, problem -> {});
    assertThat(clean.corruptions() + clean.leaks() + clean.checkErrors()).as("problems after the amend").isZero();
    assertThat(disk.flushes()).as("flushes of the amend").isPositive();
    Random random = new Random(layout.hashCode() * 31L + options.hashCode());
    for (int run = 0; run < (disk.historyLength() + 1) * TRIES; run++) {
      int point = run / TRIES;
      String where = layout + ", -o " + options + ": crash at " + point + " of " + disk.historyLength() + " (try "
          + run % TRIES + ")";
      MemoryDevice crashed = disk.crash(point, random, CrashingDevice.Tearing.SECTORS);
      Qcow2Header h = ImageHead.read(new HostReader(crashed, "image file")).header();
      assertThat(List.of(h.version(), h.refcountOrder())).as("header after a %s", where)
          .isIn(List.of(before.version(), before.refcountOrder()), List.of(after.version(), after.refcountOrder()),
              List.of(after.version(), before.refcountOrder()), List.of(before.version(), after.refcountOrder()));
      boolean dirty = (h.incompatibleFeatures() & Features.INCOMPAT_DIRTY) != 0;
      if (!dirty) {
        CheckResult r = Qcow2Checker.check(crashed, problem -> {});
        assertThat(r.corruptions()).as("corruptions after a %s", where).isZero();
        assertThat(r.checkErrors()).as("check errors after a %s", where).isZero();
        if (qemuHere && run % QEMU_EVERY == 0) {
          qemuCheck(crashed, file.getParent(), where);
        }
      }
      assertThat(guestData(crashed, file)).as("guest data after a %s", where).isEqualTo(guest);
      CrashingDevice again = new CrashingDevice(crashed);
      Qcow2Amender.amend(again, file, amend, f -> {}, p -> {});
      CheckResult done = Qcow2Checker.check(again, problem -> {});
      // Leaks stay allowed: a crash during the downgrade's leak repair leaves some that a second amend has no reason
      // to look for (as with QEMU).
      assertThat(done.corruptions() + done.checkErrors()).as("problems once the amend after a %s completed", where)
          .isZero();
      Qcow2Header finished = ImageHead.read(new HostReader(again, "image file")).header();
      assertThat(List.of(finished.version(), finished.refcountOrder(), finished.compatibleFeatures()))
          .as("header once the amend after a %s completed", where)
          .isEqualTo(List.of(after.version(), after.refcountOrder(), after.compatibleFeatures()));
      assertThat(guestData(again, file)).as("guest data once the amend after a %s completed", where).isEqualTo(guest);
      crashPoints++;
    }
  }

  /** The layout's image, made by vdisk in a fresh folder ({@link CrashImages#make}). */
  private static Path image(String layout, String commands) throws Exception {
    Path folder = Files.createTempDirectory(dir, "amend");
    String[] words = layout.split(" ");
    String options = words[0];
    if (words.length > 1 && words[1].equals("backing")) {
      CrashImages.make(folder, "base.qcow2", "", SIZE, "write -P 0x5a 0 4M");
      options += ",backing_file=base.qcow2,backing_fmt=qcow2";
    }
    List<String> made = new ArrayList<>();
    if (words.length > 1 && words[1].equals("bitmap")) {
      made.add("bitmap b1");
    }
    for (String c : commands.split(";")) {
      made.add(c.equals("snapshot") ? "snapshot s1" : c);
    }
    return CrashImages.make(folder, "img.qcow2", options, SIZE, made.toArray(String[]::new));
  }

  /** qemu-img check of {@code crashed}, saved in {@code folder} (beside its backing file). */
  private static void qemuCheck(BlockDevice crashed, Path folder, String where) throws Exception {
    Path copy = Files.createTempFile(folder, "crash", ".qcow2");
    Files.delete(copy);
    save(crashed, copy);
    // Exit 3 (leaks) is allowed, 2 (corruptions) fails here; leak reports come on stderr, in front of the JSON.
    String out = Qemu.imgAllowingExit(dir, 3, "check", "--output=json", copy.toString());
    Map<?, ?> check = (Map<?, ?>) Json.parse(out.substring(out.indexOf('{')));
    assertThat(check.get("corruptions")).as("qemu-img check after a %s: %s", where, check).isIn(null, 0L);
    assertThat(check.get("check-errors")).as("qemu-img check after a %s: %s", where, check).isIn(null, 0L);
    Files.delete(copy);
    qemuJudged++;
  }

  /** The whole guest disk of the image in {@code disk}, read through the driver (backing file included). */
  private static byte[] guestData(BlockDevice disk, Path file) throws IOException {
    try (Qcow2Image img = Qcow2Opener.open(new CrashingDevice(copyOf(disk)),
        FileContext.of(file, FileOptions.of(CacheMode.WRITEBACK, true)), new Qcow2Format(1 << 20))) {
      return Vdisk.read(img, 0, (int) img.size());
    }
  }

  private static MemoryDevice copyOf(BlockDevice disk) throws IOException {
    MemoryDevice m = new MemoryDevice(disk.size());
    byte[] all = new byte[(int) disk.size()];
    disk.read(0, ByteBuffer.wrap(all));
    m.write(0, ByteBuffer.wrap(all), java.util.Set.of());
    return m;
  }

  private static MemoryDevice load(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    MemoryDevice m = new MemoryDevice(bytes.length);
    m.write(0, ByteBuffer.wrap(bytes), java.util.Set.of());
    return m;
  }

  private static void save(BlockDevice d, Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      byte[] all = new byte[(int) d.size()];
      d.read(0, ByteBuffer.wrap(all));
      ch.write(ByteBuffer.wrap(all));
    }
  }
}
