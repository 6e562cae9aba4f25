package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shaded jar that users run: it starts, and exits with qemu-img's status and one error line. */
class JarIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  private PeerTools.Result vdisk(String... args) throws IOException, InterruptedException {
    String[] cmd = new String[args.length + 4];
    cmd[0] = JAVA;
    cmd[1] = "--enable-native-access=ALL-UNNAMED";
    cmd[2] = "-jar";
    cmd[3] = JAR.toString();
    System.arraycopy(args, 0, cmd, 4, args.length);
    return PeerTools.run(dir, cmd);
  }

  @Test
  void runsAndFailsLikeQemuImg() throws IOException, InterruptedException {
    assertThat(JAR).exists();
    PeerTools.Result version = vdisk("--version");
    assertThat(version.exit()).isZero();
    assertThat(version.out()).startsWith("vdisk version ");
    assertThat(version.err()).isEmpty();

    PeerTools.Result created = vdisk("create", "x.img", "1M");
    assertThat(created.exit()).isZero();
    assertThat(created.out()).isEqualTo("Formatting 'x.img', fmt=raw size=1048576\n");
    assertThat(Files.size(dir.resolve("x.img"))).isEqualTo(1048576);

    PeerTools.Result again = vdisk("create", "-q", "x.img", "2M");
    assertThat(again.exit()).as(again.err()).isZero();
    assertThat(Files.size(dir.resolve("x.img"))).isEqualTo(2097152);
  }

  /**
   * A JVM that refuses native access fails the system calls' link, which runs ahead on the vdisk-link thread: the
   * command still ends with one error line that says why, and exit status 1. The jar on the class path, as the
   * launchers run it (-jar would grant native access: the manifest's Enable-Native-Access).
   */
  @Test
  void aRefusedNativeLinkIsOneErrorLine() throws IOException, InterruptedException {
    Files.write(dir.resolve("x.img"), new byte[65536]);
    PeerTools.Result info = PeerTools.run(dir, JAVA, "--illegal-native-access=deny", "-cp", JAR.toString(),
        "dev.vdisk.cli.Main", "info", "x.img");
    assertThat(info.exit()).isEqualTo(1);
    assertThat(info.out()).isEmpty();
    assertThat(info.err()).startsWith("vdisk info: host I/O: cannot link the system calls: ")
        .contains("(expected: java --enable-native-access=ALL-UNNAMED)").endsWith("\n")
        .hasLineCount(1);
  }
}
