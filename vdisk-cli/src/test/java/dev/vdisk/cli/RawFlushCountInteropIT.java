package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk create -f raw} and {@code vdisk convert -O raw} make as many {@code fdatasync}/{@code fsync} calls as
 * qemu-img's same command, counted with strace on the shaded jar's process: none for a plain create or a convert
 * under its default {@code -t unsafe}, one for {@code preallocation=full} and for a convert under {@code -t
 * writeback} (its final flush). A flush qemu-img does not make costs a convert the disk's whole write-back time.
 */
class RawFlushCountInteropIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  @TempDir Path dir;

  @BeforeEach
  void source() throws IOException, InterruptedException {
    PeerTools.require("strace");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "src.qcow2", "16M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -q -P 7 1M 3M", "src.qcow2");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "create -q -f raw out.raw 16M",
      "create -q -f raw -o preallocation=full out.raw 16M",
      "convert -f qcow2 -O raw src.qcow2 out.raw",
      "convert -t writeback -f qcow2 -O raw src.qcow2 out.raw"})
  void sameFlushesAsQemuImg(String command) throws IOException, InterruptedException {
    long qemu = flushes(List.of("qemu-img"), command);
    long vdisk = flushes(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-cp", JAR.toString(),
        "dev.vdisk.cli.Main"), command);
    assertThat(vdisk).as("fdatasync/fsync calls of vdisk %s (qemu-img: %d)", command, qemu).isEqualTo(qemu);
  }

  /** The fdatasync and fsync calls of {@code tool command} in all its threads, the output removed first. */
  private long flushes(List<String> tool, String command) throws IOException, InterruptedException {
    Files.deleteIfExists(dir.resolve("out.raw"));
    Path trace = dir.resolve("flushes.trace");
    List<String> cmd = new ArrayList<>(List.of("strace", "-f", "-qq", "-e", "trace=fdatasync,fsync", "-o",
        trace.toString()));
    cmd.addAll(tool);
    cmd.addAll(List.of(command.split(" ")));
    PeerTools.check(dir, cmd.toArray(String[]::new));
    try (var lines = Files.lines(trace)) {
      return lines.filter(l -> l.contains("fdatasync(") || l.contains("fsync(")).count();
    }
  }
}
