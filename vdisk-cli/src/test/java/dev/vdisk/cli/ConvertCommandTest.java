package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConvertCommandTest {
  @TempDir Path dir;
  private String src;

  @BeforeEach
  void source() throws IOException {
    src = file("src.raw");
    assertThat(Vdisk.run("create", "-q", src, "3M").exit()).isZero();
    assertThat(Vdisk.run("io", "-f", "raw", "-c", "write -P 0x42 1M 64k", src).exit()).isZero();
  }

  private String file(String name) {
    return dir.resolve(name).toString();
  }

  @Test
  void copiesARawImageAndPrintsNothing() throws IOException {
    Vdisk.Result r = Vdisk.run("convert", "-f", "raw", src, file("out.raw"));
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEmpty();
    assertThat(r.err()).isEmpty();
    assertThat(Files.readAllBytes(dir.resolve("out.raw"))).isEqualTo(Files.readAllBytes(dir.resolve("src.raw")));
  }

  @Test
  void copyOffloadingCopiesTheSameBytesAndRefusesAnExplicitSparseSizeOrCompressionAsQemuImg() throws IOException {
    Vdisk.Result r = Vdisk.run("convert", "-C", "-W", "-f", "raw", src, file("offloaded.raw"));
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.readAllBytes(dir.resolve("offloaded.raw"))).isEqualTo(Files.readAllBytes(dir.resolve("src.raw")));
    Vdisk.Result sparse = Vdisk.run("convert", "-C", "-S", "4k", "-f", "raw", src, file("s.raw"));
    assertThat(sparse.exit()).isEqualTo(1);
    assertThat(sparse.errLines()).containsExactly("vdisk convert: Cannot enable copy offloading when -S is used");
    Vdisk.Result compressed = Vdisk.run("convert", "-C", "-c", "-O", "qcow2", "-f", "raw", src, file("c.qcow2"));
    assertThat(compressed.exit()).isEqualTo(1);
    assertThat(compressed.errLines()).containsExactly("vdisk convert: Cannot enable copy offloading when -c is used");
    assertThat(dir.resolve("s.raw")).doesNotExist();
    assertThat(dir.resolve("c.qcow2")).doesNotExist();
  }

  @Test
  void progressDrawsABarOnStandardError() {
    Vdisk.Result r = Vdisk.run("convert", "-p", "-f", "raw", src, file("out.raw"));
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEmpty();
    assertThat(r.err()).contains("convert").contains("100%").endsWith("\n");
  }

  /** Each is one line, exit 1, and leaves no target behind. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "-c|-c: Compression not supported for this file format (expected: -O qcow2)",
      "-c -O qcow2 -o preallocation=metadata|-c: Compression and preallocation not supported at the same time (expected: no -o preallocation=metadata with -c)",
      "-l snap|Failed to load snapshot: Block format 'raw' used by device '' does not support temporarily loading internal snapshots",
      "-B base.qcow2 -F qcow2|Backing file not supported for file format 'raw'",
      "-B base.qcow2 -O qcow2|Use of backing file requires explicit backing format",
      "-S 1000|-S: '1000' (expected: a multiple of 512 up to 16777216, or 0 to disable sparse detection and fully allocate the output)",
      "-S 32M|-S: '32M' (expected: a multiple of 512 up to 16777216, or 0 to disable sparse detection and fully allocate the output)",
      "-m 17|-m: '17' (expected: an integer from 1 to 16)",
      "-m 0|-m: '0' (expected: an integer from 1 to 16)",
      "-W other.img|2 sources: concatenating several sources into one target is not supported (expected: vdisk convert [options] SRC DST)",
      "-r 1x|Invalid rate limit specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
      "-t bogus|cache mode: 'bogus' (expected: writeback, writethrough, none, off, directsync, unsafe)",
      "-T bogus|cache mode: 'bogus' (expected: writeback, writethrough, none, off, directsync, unsafe)",
      "-O vmdk9|format: 'vmdk9' (expected one of: raw, qcow2)",
      "--target-is-zero|--target-is-zero: requires -n (expected: -n, the target must exist)",
      "-o preallocation=full -n|-o: 'preallocation=full' has no effect with -n (expected: no -o when the target is not created)",
      "-o cluster_size=64k|option 'cluster_size': not supported by format 'raw' (expected: preallocation)",
      "-O qcow2 -o cluster_size=3000|cluster_size: '3000' (expected: a power of two from 512 to 2M)",
  })
  void badArgumentsAreOneLineAndCreateNothing(String options, String message) throws IOException {
    String[] args = concat(new String[] {"convert", "-f", "raw"}, options.split(" "), new String[] {src, file("out.img")});
    Vdisk.Result r = Vdisk.run(args);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk convert: " + message);
    assertThat(dir.resolve("out.img")).doesNotExist();
  }

  @Test
  void anExistingTargetIsReplacedUnlessNoCreate() throws IOException {
    String out = file("existing.raw");
    Files.write(Path.of(out), new byte[] {1, 2, 3});
    Vdisk.Result small = Vdisk.run("convert", "-n", "-f", "raw", src, out);
    assertThat(small.exit()).isEqualTo(1);
    assertThat(small.err()).contains("has 3 bytes, the source has 3145728 (expected: a target at least as large as the source)");
    assertThat(Files.readAllBytes(Path.of(out))).containsExactly(1, 2, 3);

    for (String force : new String[] {"--force", "-q"}) {
      Files.write(Path.of(out), new byte[] {1, 2, 3});
      Vdisk.Result replaced = Vdisk.run("convert", force, "-f", "raw", src, out);
      assertThat(replaced.exit()).as(replaced.err()).isZero();
      assertThat(Files.readAllBytes(Path.of(out))).isEqualTo(Files.readAllBytes(Path.of(src)));
    }
  }

  @Test
  void theSourceIsNeverItsOwnTarget() throws IOException {
    byte[] before = Files.readAllBytes(Path.of(src));
    for (String flag : new String[] {"-n", "--force"}) {
      Vdisk.Result r = Vdisk.run("convert", flag, "-f", "raw", src, src);
      assertThat(r.exit()).isEqualTo(1);
      assertThat(r.errLines()).containsExactly("vdisk convert: " + src + ": is the source image (expected: a different target)");
    }
    assertThat(Files.readAllBytes(Path.of(src))).isEqualTo(before);
  }

  @Test
  void noCreateNeedsAnExistingTarget() {
    Vdisk.Result r = Vdisk.run("convert", "-n", "-f", "raw", src, file("none.raw"));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk convert: " + file("none.raw") + ": no such file (expected: an existing target with -n)");
  }

  private static String[] concat(String[]... parts) {
    return Arrays.stream(parts).flatMap(Arrays::stream).toArray(String[]::new);
  }
}
