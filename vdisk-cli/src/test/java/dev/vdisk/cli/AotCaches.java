package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * AOT caches recorded from the shaded jar as the launchers and the distribution's build record them, each kind once per
 * test JVM: a training takes seconds (the long commands' serves real NBD clients), and AotTrainingIT and RbdInteropIT
 * check the same caches. Each recording must succeed, find every peer it trains with and write a cache. Callers only
 * read the caches (a JVM started with {@code -XX:AOTCache}).
 */
final class AotCaches {
  static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  static final String JAVA = ProcessHandle.current().info().command().orElse("java");
  private static final Map<String, Path> RECORDED = new HashMap<>();
  private static Path dir;

  private AotCaches() {}

  /** The cache of {@code kind} ({@code short}, {@code long}, or a command of {@link AotTraining#OWN_CACHE}). */
  static synchronized Path of(String kind) throws IOException, InterruptedException {
    Path aot = RECORDED.get(kind);
    if (aot == null) {
      if (dir == null) {
        dir = Files.createTempDirectory(Path.of("target"), "aot-caches-").toAbsolutePath();
      }
      aot = record(kind);
      RECORDED.put(kind, aot);
    }
    return aot;
  }

  /**
   * The JVM options the launchers give a command of {@code kind} (all but long: C1 only, the serial collector, no
   * hsperfdata).
   */
  static List<String> jvmOptions(String kind) {
    return kind.equals("long") ? List.of() : List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData");
  }

  private static Path record(String kind) throws IOException, InterruptedException {
    Path train = Files.createDirectory(dir.resolve(kind));
    Path aot = dir.resolve(kind + ".aot");
    if (AotTraining.OWN_CACHE.contains(kind)) { // its images made by another JVM first, as the launchers do
      List<String> images = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED"));
      images.addAll(jvmOptions(kind));
      images.addAll(List.of("-cp", JAR.toString(), "dev.vdisk.cli.AotTraining", "images", train.toString()));
      PeerTools.Result made = PeerTools.run(dir, images.toArray(String[]::new));
      assertThat(made.exit()).as(made.out() + made.err()).isZero();
    }
    List<String> command = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED"));
    command.addAll(jvmOptions(kind));
    command.addAll(List.of("-XX:AOTCacheOutput=" + aot, "-Xlog:aot=off", "-Xlog:cds=off", "-cp", JAR.toString(),
        "dev.vdisk.cli.AotTraining", kind, train.toString()));
    PeerTools.Result record = PeerTools.run(dir, command.toArray(String[]::new));
    assertThat(record.exit()).as(record.out() + record.err()).isZero();
    assertThat(record.err()).doesNotContain("not found on the PATH");
    assertThat(aot).isNotEmptyFile();
    return aot;
  }
}
