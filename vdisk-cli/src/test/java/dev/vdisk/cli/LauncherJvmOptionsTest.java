package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Which JVM options the two launchers, the checkout's {@code ./vdisk} and the distribution's {@code bin/vdisk}, give
 * {@code bench}: C1 only and the serial collector on RBD, under the O_DIRECT cache modes (none, directsync), for
 * writes under writethrough, where the device bounds the rate and C2's compilations only compete with a short run,
 * and for requests of 256 KiB or more ({@code -s}), whose Java work is small beside the kernel's copy; the JIT's
 * defaults otherwise (reads under writethrough come from the page cache). Each
 * launcher runs, copied into a folder of its own, on a stand-in {@code java} that writes down its arguments (and the
 * file an AOT cache recording asks for).
 */
class LauncherJvmOptionsTest {
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static final String C1 = "-XX:TieredStopAtLevel=1";

  @TempDir Path dir;
  private Path calls;

  @BeforeEach
  void callLog() {
    calls = dir.resolve("calls.log");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "bench -t none -f raw img.raw | true",
      "bench -f raw -tdirectsync img.raw | true",
      "bench -t directsync -i io_uring -d 16 img.raw | true",
      "bench rbd:pool/img | true",
      "bench -t writeback img.raw | false",
      "bench -w -t writethrough -d 16 img.raw | true",
      "bench -twritethrough -f raw -w img.raw | true",
      "bench -t writethrough img.raw | false",
      "bench -f raw img.raw | false",
      "bench -f raw none | false",
      "bench -w -s 1048576 -S 1048576 -d 4 -t writeback img.raw | true",
      "bench -s 262144 img.raw | true",
      "bench -s 262143 img.raw | false",
      "bench -s256k img.raw | true",
      "bench -s=1M -f qcow2 img.qcow2 | true",
      "bench -s 255k img.raw | false",
      "bench -s 4096 -S 1048576 img.raw | false",
      "bench -s 0M img.raw | false",
      "info -t none img.raw | true"}) // a short command: C1 only, as always
  void benchRunsWithC1OnlyOnRbdUnderDirectCacheModesAndForLargeRequests(String args, boolean c1) throws Exception {
    assertThat(lastCall(checkout(), args)).as("./vdisk " + args)
        .matches(a -> c1 == a.contains(C1), c1 ? "has " + C1 : "lacks " + C1);
    assertThat(lastCall(dist(), args)).as("bin/vdisk " + args)
        .matches(a -> c1 == a.contains(C1), c1 ? "has " + C1 : "lacks " + C1);
  }

  /** A copy of the checkout's launcher beside a placeholder jar, on a stand-in JDK 25. */
  private Path checkout() throws IOException {
    Path home = Files.createDirectories(dir.resolve("checkout"));
    Files.createDirectories(home.resolve(".mvn"));
    Files.copy(REPO.resolve(".mvn/jdk25.sh"), home.resolve(".mvn/jdk25.sh"));
    Files.createDirectories(home.resolve("vdisk-cli/target"));
    Files.writeString(home.resolve("vdisk-cli/target/vdisk.jar"), "");
    Path launcher = Files.copy(REPO.resolve("vdisk"), home.resolve("vdisk"));
    standInJdk(home.resolve("jdk"));
    return launcher;
  }

  /** A copy of the distribution's launcher in its tree (bin, lib, runtime), the runtime a stand-in. */
  private Path dist() throws IOException {
    Path home = Files.createDirectories(dir.resolve("dist"));
    Files.createDirectories(home.resolve("bin"));
    Files.createDirectories(home.resolve("lib"));
    Path launcher = Files.copy(REPO.resolve("vdisk-dist/src/main/dist/bin/vdisk"), home.resolve("bin/vdisk"));
    standInJdk(home.resolve("runtime"));
    return launcher;
  }

  private void standInJdk(Path home) throws IOException {
    if (Files.exists(home)) {
      return;
    }
    Files.createDirectories(home.resolve("bin"));
    Files.writeString(home.resolve("release"), "JAVA_VERSION=\"25\"\nJAVA_RUNTIME_VERSION=\"25+36-standin\"\n");
    Path java = home.resolve("bin/java");
    Files.writeString(java, """
        #!/bin/sh
        for a in "$@"; do
          case $a in -XX:AOTCacheOutput=*) : >"${a#-XX:AOTCacheOutput=}" ;; esac
        done
        printf '%s\\n' "$*" >>"$STANDIN_CALLS"
        """);
    Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  /** The arguments of the last {@code java} the launcher ran for {@code args} (the command itself). */
  private List<String> lastCall(Path launcher, String args) throws IOException, InterruptedException {
    Files.deleteIfExists(calls);
    List<String> command = new ArrayList<>(List.of("sh", launcher.toString()));
    command.addAll(List.of(args.split(" ")));
    ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("launcher.out").toFile());
    pb.environment().put("STANDIN_CALLS", calls.toString());
    pb.environment().put("VDISK_NO_BUILD", "1");
    pb.environment().put("JAVA_HOME", launcher.getParent().resolve("jdk").toString());
    Process p = pb.start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(dir.resolve("launcher.out"))).isZero();
    List<String> lines = Files.readAllLines(calls);
    return List.of(lines.getLast().split(" "));
  }
}
