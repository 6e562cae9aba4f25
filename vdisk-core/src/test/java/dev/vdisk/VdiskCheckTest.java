package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.Repair;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Vdisk#check} and {@link Vdisk#repair} report qemu-img check's counters, verdict and problems, typed. */
class VdiskCheckTest {
  private static final OpenOptions QCOW2 = OpenOptions.builder().format("qcow2").readOnly(true).build();

  @TempDir Path dir;

  @Test
  void aCleanImageHasNoProblems() throws IOException {
    Path image = dir.resolve("clean.qcow2");
    Vdisk.create(image, 1 << 20, CreateOptions.qcow2().build(), false);
    CheckReport report = Vdisk.check(image, QCOW2, CheckListener.NONE);
    assertThat(report.verdict()).isEqualTo(CheckReport.Verdict.CLEAN);
    assertThat(report.problems()).isEmpty();
    assertThat(report.format()).isEqualTo("qcow2");
    assertThat(report.repair()).isEmpty();
  }

  @Test
  void aLeakIsReportedTypedAndRepaired() throws IOException {
    Path image = dir.resolve("leak.qcow2");
    Vdisk.create(image, 1 << 20, CreateOptions.qcow2().build(), false);
    leakCluster(image, 4);
    List<CheckProblem> seen = new ArrayList<>();
    CheckReport found = Vdisk.check(image, QCOW2, seen::add);
    assertThat(found.verdict()).isEqualTo(CheckReport.Verdict.LEAKS);
    assertThat(found.verdict().exitStatus()).isEqualTo(3);
    assertThat(found.result().leaks()).isEqualTo(1);
    assertThat(found.problems()).containsExactly(
        new CheckProblem(CheckProblem.Kind.LEAK, "Leaked cluster 4 refcount=1 reference=0"));
    assertThat(seen).isEqualTo(found.problems());

    List<String> events = new ArrayList<>();
    CheckReport repaired = Vdisk.repair(image, Repair.LEAKS, QCOW2, new CheckListener() {
      @Override
      public void problem(CheckProblem problem) {
        events.add(problem.kind() + ": " + problem.message());
      }

      @Override
      public void repaired(dev.vdisk.format.CheckResult fixed) {
        events.add("repaired " + fixed.leaksFixed());
      }
    });
    assertThat(repaired.repair()).hasValueSatisfying(r -> assertThat(r.leaksFixed()).isEqualTo(1));
    assertThat(repaired.result().leaksFixed()).isEqualTo(1);
    assertThat(repaired.verdict()).isEqualTo(CheckReport.Verdict.CLEAN);
    assertThat(events).contains("repaired 1");
    assertThat(Vdisk.check(image, QCOW2, CheckListener.NONE).verdict()).isEqualTo(CheckReport.Verdict.CLEAN);
  }

  @Test
  void aFormatWithoutChecksIsRefused() throws IOException {
    Path image = dir.resolve("disk.raw");
    Vdisk.create(image, 1 << 20, CreateOptions.raw(), false);
    assertThatThrownBy(() -> Vdisk.check(image, OpenOptions.builder().readOnly(true).build(), CheckListener.NONE))
        .isInstanceOf(UnsupportedOperationException.class)
        .hasMessage("format 'raw': does not support checks (expected: a format with consistency checks, such as qcow2)");
  }

  /** Gives host cluster {@code cluster} (past the image's end) a refcount of 1 that nothing references. */
  private static void leakCluster(Path image, int cluster) throws IOException {
    try (FileChannel f = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long refcountTable = read(f, 48).getLong(0);
      long block = read(f, refcountTable).getLong(0);
      f.write(ByteBuffer.allocate(2).putShort(0, (short) 1), block + 2L * cluster);
      f.write(ByteBuffer.allocate(1), (cluster + 1L) * 65536 - 1);
    }
  }

  private static ByteBuffer read(FileChannel f, long at) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8);
    f.read(b, at);
    return b;
  }
}
