package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class CreateCommandTest {
  @TempDir Path dir;

  private String file(String name) {
    return dir.resolve(name).toString();
  }

  @Test
  void createsARawImageAndPrintsQemuImgsLine() throws IOException {
    String f = file("a.img");
    Vdisk.Result r = Vdisk.run("create", f, "4M");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo("Formatting '" + f + "', fmt=raw size=4194304\n");
    assertThat(r.err()).isEmpty();
    assertThat(Files.size(Path.of(f))).isEqualTo(4194304);
  }

  @ParameterizedTest
  @ValueSource(strings = {"off", "falloc", "full"})
  void printsThePreallocationLikeQemuImg(String mode) throws IOException {
    String f = file(mode + ".img");
    Vdisk.Result r = Vdisk.run("create", "-f", "raw", "-o", "preallocation=" + mode, f, "1M");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo("Formatting '" + f + "', fmt=raw size=1048576 preallocation=" + mode + "\n");
    assertThat(Files.size(Path.of(f))).isEqualTo(1048576);
  }

  @Test
  void quietPrintsNothing() {
    Vdisk.Result r = Vdisk.run("create", "-q", file("q.img"), "64k");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEmpty();
  }

  @Test
  void optionHelpListsTheFormatsOptionsAndCreatesNothing() throws IOException {
    for (String help : new String[] {"help", "?"}) {
      Vdisk.Result r = Vdisk.run("create", "-f", "raw", "-o", help, file("h.img"), "1M");
      assertThat(r.exit()).isZero();
      assertThat(r.out()).isEqualTo("Supported options:\n"
          + "  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, full)\n"
          + "  size=<size>            - Virtual disk size\n");
    }
    try (var files = Files.list(dir)) {
      assertThat(files).isEmpty();
    }
  }

  /** Each bad command line: exit 1, one error line naming the problem, and no file. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "-1|size: '-1' is negative (expected: a byte count >= 0)",
      "1Q|size: '1Q' (expected: bytes like 4096, or with a suffix b, k, M, G, T, P, E like 64k or 1.5G)",
      "8E|size: '8E' is too large (expected: at most 9223372036854775807 bytes)"})
  void refusesBadSizes(String size, String message) {
    String f = file("bad.img");
    Vdisk.Result r = Vdisk.run("create", f, size);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk create: " + message);
    assertThat(r.out()).isEmpty();
    assertThat(Path.of(f)).doesNotExist();
  }

  @Test
  void refusesAnUnknownOptionNamingTheAcceptedOnes() {
    String f = file("bad.img");
    Vdisk.Result r = Vdisk.run("create", "-o", "cluster_size=64k", f, "1M");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines())
        .containsExactly("vdisk create: option 'cluster_size': not supported by format 'raw' (expected: preallocation)");
    assertThat(Path.of(f)).doesNotExist();
  }

  @Test
  void refusesABadPreallocationNamingTheAcceptedOnes() {
    String f = file("bad.img");
    Vdisk.Result r = Vdisk.run("create", "-o", "preallocation=metadata", f, "1M");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines())
        .containsExactly("vdisk create: preallocation: 'metadata' (expected for raw: off, falloc, full)");
    assertThat(Path.of(f)).doesNotExist();
  }

  @Test
  void refusesAnUnknownFormat() {
    Vdisk.Result r = Vdisk.run("create", "-f", "vmdk", file("bad.img"), "1M");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk create: format: 'vmdk' (expected one of: raw, qcow2)");
  }

  @Test
  void refusesAMissingSize() {
    Vdisk.Result r = Vdisk.run("create", file("bad.img"));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(
        "vdisk create: missing SIZE (expected: vdisk create [-f fmt] [-o options] FILE SIZE)");
  }

  @Test
  void replacesAnExistingFileAsQemuImgDoes() throws IOException {
    Path f = dir.resolve("existing.img");
    Files.writeString(f, "old contents", StandardCharsets.US_ASCII);
    Vdisk.Result r = Vdisk.run("create", "-q", f.toString(), "1000");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.readAllBytes(f)).hasSize(1024).containsOnly(0);
  }

  @Test
  void leavesAnExistingFileAloneWhenForcedWithABadOption() throws IOException {
    Path f = dir.resolve("existing.img");
    Files.writeString(f, "precious", StandardCharsets.US_ASCII);
    Vdisk.Result r = Vdisk.run("create", "--force", "-o", "preallocation=bogus", f.toString(), "1M");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(Files.readString(f)).isEqualTo("precious");
  }

  @Test
  void acceptsForce() throws IOException {
    Path f = dir.resolve("existing.img");
    Files.writeString(f, "old", StandardCharsets.US_ASCII);
    Vdisk.Result r = Vdisk.run("create", "--force", f.toString(), "64k");
    assertThat(r.exit()).isZero();
    assertThat(Files.readAllBytes(f)).hasSize(65536).containsOnly(0);
  }

  @Test
  void refusesADirectory() {
    Vdisk.Result r = Vdisk.run("create", dir.toString(), "1M");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).hasSize(1);
    assertThat(r.err()).startsWith("vdisk create: " + dir + ": not a regular file");
  }

  @Test
  void refusesAFileInAMissingDirectory() {
    String f = dir.resolve("no/such/dir/x.img").toString();
    Vdisk.Result r = Vdisk.run("create", "-q", f, "1M");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk create: " + f + ": no such file or directory (expected: the path to exist)");
  }
}
