package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AOT cache's training run, as the launcher and the distribution's build record it: it succeeds on the shaded jar
 * (its CLI commands and the server driven by qemu-img bench, qemu-io and nbdcopy), and the cache it leaves holds the
 * classes of a short command and picocli's; that command links only the native calls it makes.
 */
class AotTrainingIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  @Test
  void recordsACacheThatShortCommandsLoadFrom() throws IOException, InterruptedException {
    for (String peer : new String[] {"qemu-img", "qemu-io", "nbdcopy"}) {
      PeerTools.require(peer); // the server's part of the training runs these
    }
    Path train = Files.createDirectory(dir.resolve("train"));
    Path aot = dir.resolve("vdisk.aot");
    PeerTools.Result record = PeerTools.run(dir, JAVA, "--enable-native-access=ALL-UNNAMED", "-XX:AOTCacheOutput=" + aot,
        "-Xlog:aot=off", "-Xlog:cds=off", "-cp", JAR.toString(), "dev.vdisk.cli.AotTraining", train.toString());
    assertThat(record.exit()).as(record.out() + record.err()).isZero();
    assertThat(record.err()).doesNotContain("not found on the PATH");
    assertThat(aot).isNotEmptyFile();

    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "small.qcow2", "1M");
    Path log = dir.resolve("classes.log");
    PeerTools.Result info = PeerTools.run(dir, JAVA, "--enable-native-access=ALL-UNNAMED", "-XX:AOTCache=" + aot,
        "-Xlog:class+load=info:file=" + log, "-jar", JAR.toString(), "info", "small.qcow2");
    assertThat(info.exit()).as(info.err()).isZero();
    assertThat(info.out()).startsWith("image: small.qcow2\nfile format: qcow2\n");
    for (String loaded : new String[] {" dev.vdisk.cli.InfoCommand ", " picocli.CommandLine ",
        " dev.vdisk.format.qcow2.Qcow2Image "}) {
      assertThat(Files.readAllLines(log)).filteredOn(l -> l.contains(loaded)).singleElement().asString()
          .as(loaded.strip()).endsWith("source: shared objects file");
    }
    // Each downcall is linked on its first call (generating its stub costs milliseconds): info makes open, fstat,
    // fcntl (image locks) and close, not the other six.
    assertThat(Files.readAllLines(log)).filteredOn(l -> l.contains(" jdk.internal.foreign.abi.DowncallStub/")).hasSize(4);
  }
}
