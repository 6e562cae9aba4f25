package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.format.CheckResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CheckCommandTest {
  @TempDir Path dir;

  /** glibc rounds the exact double half to even: 1/800 is 0.125 exactly and prints as 0.12. */
  @ParameterizedTest
  @CsvSource({"1, 800, 0.12", "3, 800, 0.38", "17, 160, 10.62", "1, 3, 33.33", "2, 3, 66.67", "0, 5, 0.00", "5, 5, 100.00"})
  void percentagesRoundLikeCPrintf(long part, long whole, String expected) {
    assertThat(CheckCommand.percent(part, whole)).isEqualTo(expected);
  }

  @Test
  void humanSummaryOfACleanImageWithoutAllocationsHasNoStatisticsLine() {
    assertThat(CheckCommand.human(new CheckResult(0, 0, 0, 262144, 160, 0, 0, 0)))
        .isEqualTo("No errors were found on the image.\nImage end offset: 262144\n");
  }

  @Test
  void humanSummaryNamesEachKindOfProblem() {
    assertThat(CheckCommand.human(new CheckResult(2, 3, 4, 65536, 10, 4, 1, 1))).isEqualTo("""

        3 errors were found on the image.
        Data may be corrupted, or further writes to the image may corrupt it.

        4 leaked clusters were found on the image.
        This means waste of disk space, but no harm to data.

        2 internal errors have occurred during the check.
        4/10 = 40.00% allocated, 25.00% fragmented, 25.00% compressed clusters
        Image end offset: 65536
        """);
  }

  @Test
  void jsonLeavesZeroCountersOutInQemuImgsOrder() {
    assertThat(Json.pretty(CheckCommand.json(new CheckResult(0, 0, 0, 0, 160, 0, 0, 0), "x.qcow2", "qcow2"))).isEqualTo("""
        {
            "total-clusters": 160,
            "check-errors": 0,
            "filename": "x.qcow2",
            "format": "qcow2"
        }""");
  }

  @Test
  void rawHasNoChecks() throws IOException {
    Path raw = Files.write(dir.resolve("disk.raw"), new byte[4096]);
    Vdisk.Result r = Vdisk.run("check", raw.toString());
    assertThat(r.exit()).isEqualTo(63);
    assertThat(r.out()).isEmpty();
    assertThat(r.errLines()).containsExactly(
        "vdisk check: format 'raw': does not support checks (expected: a format with consistency checks, such as qcow2)");
  }

  /** qemu-img check's -T: the cache mode the image is read with. */
  @Test
  void readsWithTheCacheModeOfDashT() {
    String img = dir.resolve("t.qcow2").toString();
    assertThat(Vdisk.run("create", "-q", "-f", "qcow2", img, "1M").exit()).isZero();
    Vdisk.Result r = Vdisk.run("check", "-T", "none", img);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).startsWith("No errors were found on the image.");
    Vdisk.Result bad = Vdisk.run("check", "-T", "bogus", img);
    assertThat(bad.exit()).isEqualTo(1);
    assertThat(bad.errLines()).singleElement().asString().contains("cache mode: 'bogus'");
  }

  @Test
  void anUnknownRepairModeIsRefusedBeforeTheFileIsOpened() {
    Vdisk.Result r = Vdisk.run("check", "-r", "some", dir.resolve("missing.qcow2").toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk check: -r some: unknown repair mode (expected: leaks or all)");
  }

  @Test
  void repairWithForceShareIsRefusedAndLeavesTheFileAlone() throws IOException {
    Path file = Files.write(dir.resolve("leaky.qcow2"), new byte[] {'Q', 'F', 'I', 0xfffffffb});
    byte[] before = Files.readAllBytes(file);
    Vdisk.Result r = Vdisk.run("check", "-U", "-r", "leaks", file.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().contains("force-share (-U): requires a read-only open");
    assertThat(Files.readAllBytes(file)).isEqualTo(before);
  }

  @Test
  void aFileThatIsNotQcow2ForcedAsQcow2IsOneCleanError() throws IOException {
    Path raw = Files.write(dir.resolve("disk.raw"), new byte[4096]);
    Vdisk.Result r = Vdisk.run("check", "-f", "qcow2", raw.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().startsWith("vdisk check: magic: 0x0 (expected: ");
  }
}
