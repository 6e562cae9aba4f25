package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CompareCommandTest {
  @TempDir Path dir;
  private String a;
  private String b;

  @BeforeEach
  void images() {
    a = dir.resolve("a.raw").toString();
    b = dir.resolve("b.raw").toString();
    assertThat(Vdisk.run("create", "-q", a, "1M").exit()).isZero();
    assertThat(Vdisk.run("create", "-q", b, "1M").exit()).isZero();
  }

  @Test
  void identicalImagesExitZero() {
    Vdisk.Result r = Vdisk.run("compare", "-f", "raw", "-F", "raw", a, b);
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo("Images are identical.\n");
    assertThat(r.err()).isEmpty();
  }

  @Test
  void aDifferenceExitsOneAtTheDifferingSector() {
    assertThat(Vdisk.run("io", "-f", "raw", "-c", "write -P 1 5000 1", b).exit()).isZero();
    Vdisk.Result r = Vdisk.run("compare", "-f", "raw", "-F", "raw", a, b);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.out()).isEqualTo("Content mismatch at offset 4608!\n");
    Vdisk.Result quiet = Vdisk.run("compare", "-q", "-f", "raw", "-F", "raw", a, b);
    assertThat(quiet.exit()).isEqualTo(1);
    assertThat(quiet.out()).isEmpty();
  }

  @Test
  void aBadCacheModeExitsTwoAndWrongArgumentsExitOne() {
    Vdisk.Result cache = Vdisk.run("compare", "-T", "bogus", a, b);
    assertThat(cache.exit()).isEqualTo(2);
    assertThat(cache.errLines()).containsExactly(
        "vdisk compare: cache mode: 'bogus' (expected: writeback, writethrough, none, off, directsync, unsafe)");
    Vdisk.Result oneFile = Vdisk.run("compare", a);
    assertThat(oneFile.exit()).isEqualTo(1);
    assertThat(oneFile.errLines()).hasSize(1);
  }

  @Test
  void progressGoesToStandardErrorAndTheVerdictToStandardOutput() {
    Vdisk.Result r = Vdisk.run("compare", "-p", "-f", "raw", "-F", "raw", a, b);
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo("Images are identical.\n");
    assertThat(r.err()).contains("compare").contains("100%");
  }
}
