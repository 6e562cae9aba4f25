package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import dev.vdisk.testkit.CrashingDevice;
import dev.vdisk.testkit.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Power loss during {@code check -r all}'s rewrite of a damaged snapshot table ({@link SnapshotTableRepair}), on a
 * {@link CrashingDevice} that keeps every flushed write and a random subset of the rest, torn at 512-byte sectors.
 * After every crash point (the header names the old table or the new one: one write inside a sector): a check finds no
 * check error and no more corruptions than the damage itself made (besides COPIED flags missing where a repaired
 * refcount is 1 again, the safe side), a second repair leaves the image clean, and qemu-img check agrees with that
 * (every tenth point, where qemu-img is installed; vdisk makes the images, {@link CrashImages#make}).
 */
class SnapshotTableRepairCrashIT {
  @TempDir static Path dir;
  /** qemu-img judges where it is installed (and must be on CI); vdisk makes the images. */
  private static boolean qemuHere;

  @BeforeAll
  static void peers() {
    qemuHere = Qemu.judges();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cluster_size=65536", "cluster_size=4096", "cluster_size=512,refcount_bits=64"})
  void crashesDuringTheRewriteLeaveTheOldTableOrTheNew(String options) throws Exception {
    String name = "img-" + options.hashCode() + ".qcow2";
    Path image = dir.resolve(name);
    CrashImages.make(dir, name, options, 4 << 20, "write -P 0x11 0 1M", "snapshot first", "write -P 0x12 512k 1M",
        "snapshot second");
    byte[] bytes = Files.readAllBytes(image);
    // The table lies 1 GiB past the end of the file: its entries read as zeroes, every one incomplete.
    ByteBuffer.wrap(bytes).putLong(64, (1L << 30) + Math.ceilDiv(bytes.length, 2 << 20) * (2L << 20));
    MemoryDevice start = new MemoryDevice(bytes.length);
    start.write(0, ByteBuffer.wrap(bytes), Set.of());
    long damage = Qcow2Checker.check(start.copy(), p -> {}).corruptions();
    assertThat(damage).isPositive();

    CrashingDevice disk = new CrashingDevice(start.copy());
    Qcow2Checker.repair(disk, Repair.ALL, p -> {});
    CheckResult repaired = Qcow2Checker.check(disk, p -> {});
    assertThat(repaired.corruptions() + repaired.leaks() + repaired.checkErrors()).as("check after the repair").isZero();
    Random random = new Random(options.hashCode());
    int history = disk.historyLength();
    for (int point = 0; point <= history; point++) {
      MemoryDevice crashed = disk.crash(point, random, CrashingDevice.Tearing.SECTORS);
      String where = options + ", crash at " + point + " of " + history;
      List<String> problems = new ArrayList<>();
      CheckResult after = Qcow2Checker.check(crashed.copy(), p -> {
        // The refcount repair lowers shared counts to 1 before it sets the COPIED flags: a flag missing where the
        // count is 1 is the safe side (a write copies the cluster), counted as a corruption by QEMU too.
        if (p.kind() == CheckProblem.Kind.CORRUPTION && !p.message().matches("ERROR OFLAG_COPIED .*entry=[0-7]?\\p{XDigit}{0,15} refcount=1")) {
          problems.add(p.message());
        }
      });
      assertThat(after.checkErrors()).as(where).isZero();
      assertThat((long) problems.size()).as(where + ": " + problems).isLessThanOrEqualTo(damage);
      Qcow2Checker.repair(crashed, Repair.ALL, p -> {});
      CheckResult clean = Qcow2Checker.check(crashed, p -> {});
      assertThat(clean.corruptions() + clean.leaks() + clean.checkErrors()).as(where + ": after a second repair").isZero();
      if (qemuHere && (point % 10 == 0 || point == history)) {
        Path copy = dir.resolve("crashed-" + point + "-" + name);
        ByteBuffer all = ByteBuffer.allocate((int) crashed.size());
        crashed.read(0, all);
        Files.write(copy, all.array());
        assertThat(Qemu.checkJson(dir, copy.getFileName().toString())).as(where).doesNotContain("corruptions", "leaks");
        Files.delete(copy);
      }
    }
  }
}
