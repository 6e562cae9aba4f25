package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
  @TempDir Path dir;

  @Test
  void versionComesFromTheBuild() {
    Vdisk.Result r = Vdisk.run("--version");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).matches("vdisk version \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\n");
  }

  @Test
  void helpListsTheCommands() {
    Vdisk.Result r = Vdisk.run("--help");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("create", "info", "map", "io", "bench", "convert", "compare", "--debug");
    for (String cmd : new String[] {"create", "info", "map", "io", "bench", "convert", "compare"}) {
      Vdisk.Result sub = Vdisk.run(cmd, "--help");
      assertThat(sub.exit()).as(cmd).isZero();
      assertThat(sub.out()).as(cmd).startsWith("Usage: vdisk " + cmd);
    }
  }

  @Test
  void helpCommandPrintsTheSameUsage() {
    Vdisk.Result all = Vdisk.run("help");
    assertThat(all.exit()).isZero();
    assertThat(all.out()).isEqualTo(Vdisk.run("--help").out());
    for (String cmd : new String[] {"info", "serve", "advise"}) {
      Vdisk.Result sub = Vdisk.run("help", cmd);
      assertThat(sub.exit()).as(cmd).isZero();
      assertThat(sub.out()).as(cmd).isEqualTo(Vdisk.run(cmd, "--help").out());
    }
    Vdisk.Result unknown = Vdisk.run("help", "frobnicate");
    assertThat(unknown.exit()).isEqualTo(1);
    assertThat(unknown.errLines()).containsExactly("vdisk: Unknown subcommand 'frobnicate'. (expected: see 'vdisk --help')");
  }

  @Test
  void bashCompletionKnowsEveryCommand() {
    Vdisk.Result r = Vdisk.run("generate-completion");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("complete -F _complete_vdisk", "create", "convert", "serve", "advise", "bitmap")
        .contains("--output", "--backing-chain");
  }

  @Test
  void noCommandIsOneLine() {
    Vdisk.Result r = Vdisk.run();
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk: no command given (expected: one of create, info, map, check, "
        + "snapshot, resize, convert, compare, measure, io, bench, serve, advise, bitmap, rebase, commit, help, "
        + "generate-completion)");
  }

  @Test
  void unknownCommandAndOptionAreOneLine() {
    Vdisk.Result r = Vdisk.run("frobnicate", "a", "b");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).hasSize(1);
    assertThat(r.err()).startsWith("vdisk: Command not found: frobnicate (expected: one of create, info, map, ");
    r = Vdisk.run("info", "-x", "a");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk info: Unknown option: '-x' (expected: see 'vdisk info --help')");
  }

  @Test
  void everyCommandPrintsTheVersion() {
    String version = Vdisk.run("--version").out();
    assertThat(version).startsWith("vdisk version ");
    for (String command : new String[] {"info", "convert", "serve"}) {
      for (String flag : new String[] {"-V", "--version"}) {
        Vdisk.Result r = Vdisk.run(command, flag);
        assertThat(r.exit()).isZero();
        assertThat(r.out()).as(command + " " + flag).isEqualTo(version);
      }
    }
  }

  @Test
  void debugAddsTheStackTraceBeforeOrAfterTheCommand() {
    String missing = dir.resolve("nope").toString();
    Vdisk.Result plain = Vdisk.run("info", missing);
    assertThat(plain.errLines()).hasSize(1);
    for (String[] args : new String[][] {{"--debug", "info", missing}, {"info", "--debug", missing}}) {
      Vdisk.Result r = Vdisk.run(args);
      assertThat(r.exit()).isEqualTo(1);
      assertThat(r.errLines()[0]).isEqualTo(plain.errLines()[0]);
      assertThat(r.err()).contains("\tat dev.vdisk.cli.");
    }
  }

  @Test
  void errorLinesStayOneLine() {
    assertThat(Main.errorLine("io", "a\nb\r\n  c")).isEqualTo("vdisk io: a b c");
  }
}
