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
}
