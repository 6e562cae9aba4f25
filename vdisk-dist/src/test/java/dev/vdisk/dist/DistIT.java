package dev.vdisk.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution tarball as a user installs it: unpacked into an empty folder, run with {@code JAVA_HOME} unset
 * and nothing on the {@code PATH} (so no {@code java} either), it prints its version, creates an image and prints its
 * info, using the AOT caches it ships; a cache that no longer matches its jar is ignored without a word.
 */
class DistIT {
  @TempDir static Path home;
  @TempDir Path work;

  private static Path vdisk;

  @BeforeAll
  static void unpack() throws IOException, InterruptedException {
    Path dir = Path.of(System.getProperty("vdisk.dist.dir", "target"));
    Path tarball;
    try (Stream<Path> files = Files.list(dir)) {
      tarball = files.filter(f -> f.getFileName().toString().matches("vdisk-.*-linux-.*\\.tar\\.gz")).findFirst()
          .orElseThrow(() -> new AssertionError("no vdisk-*-linux-*.tar.gz in " + dir + " (expected: ./mvnw -Pdist package)"));
    }
    Result untar = run(home, Map.of("PATH", System.getenv("PATH")), "tar", "-xzf", tarball.toString());
    assertThat(untar.exit()).as(untar.err()).isZero();
    vdisk = home.resolve(System.getProperty("vdisk.dist.name", "vdisk-0.1.0-SNAPSHOT")).resolve("bin/vdisk");
    assertThat(vdisk).isExecutable();
  }

  private record Result(int exit, String out, String err) {}

  /** Runs {@code command} in {@code dir} with exactly the environment {@code env} (at most a minute). */
  private static Result run(Path dir, Map<String, String> env, String... command) throws IOException, InterruptedException {
    Path out = Files.createTempFile("dist", ".out");
    Path err = Files.createTempFile("dist", ".err");
    try {
      ProcessBuilder pb = new ProcessBuilder(List.of(command)).directory(dir.toFile())
          .redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
      pb.environment().clear();
      pb.environment().putAll(env);
      Process p = pb.start();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError(String.join(" ", command) + ": still running after 60 s");
      }
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.delete(out);
      Files.delete(err);
    }
  }

  /** {@code bin/vdisk ARGS} from a user's shell without a JDK: no JAVA_HOME, and a PATH naming no folder that exists. */
  private Result user(String... args) throws IOException, InterruptedException {
    return user(vdisk, Map.of(), args);
  }

  private Result user(Path launcher, Map<String, String> extra, String... args) throws IOException, InterruptedException {
    String[] command = Stream.concat(Stream.of(launcher.toString()), Stream.of(args)).toArray(String[]::new);
    Map<String, String> env = new HashMap<>(Map.of("PATH", work.resolve("no-such-dir").toString(), "HOME", work.toString()));
    env.putAll(extra);
    return run(work, env, command);
  }

  @Test
  void runsWithoutAJdk() throws IOException, InterruptedException {
    Result version = user("--version");
    assertThat(version.exit()).as(version.err()).isZero();
    assertThat(version.out()).startsWith("vdisk version ");
    assertThat(version.err()).isEmpty();

    Result create = user("create", "-q", "-f", "qcow2", "disk.qcow2", "64M");
    assertThat(create.exit()).as(create.err()).isZero();
    Result info = user("info", "disk.qcow2");
    assertThat(info.exit()).as(info.err()).isZero();
    assertThat(info.err()).isEmpty();
    assertThat(info.out()).startsWith("image: disk.qcow2\nfile format: qcow2\nvirtual size: 64 MiB (67108864 bytes)\n");
    Result json = user("info", "--output=json", "disk.qcow2");
    assertThat(json.exit()).as(json.err()).isZero();
    assertThat(json.out()).contains("\"virtual-size\": 67108864", "\"format\": \"qcow2\"");
  }

  @Test
  void shipsAManPagePerCommandAndTheCompletionScript() throws IOException {
    Path man = vdisk.getParent().resolveSibling("share/man/man1");
    assertThat(man.resolve("vdisk.1")).content().contains(".TH \"VDISK\"");
    for (String command : List.of("create", "info", "convert", "serve", "rebase", "commit", "amend", "dd")) {
      assertThat(man.resolve("vdisk-" + command + ".1")).exists();
    }
    assertThat(man.resolveSibling("../bash-completion/completions/vdisk").normalize()).content()
        .contains("complete -F _complete_vdisk");
  }

  @Test
  void usesTheAotCachesItShips() throws IOException, InterruptedException {
    assertThat(user("create", "-q", "disk.raw", "1M").exit()).isZero();
    List<String> info = classesLoaded("info", "disk.raw");
    assertThat(info).filteredOn(l -> l.contains(" dev.vdisk.cli.InfoCommand ")).singleElement()
        .asString().endsWith("source: shared objects file");
    // No class of info comes from the jar, and the launcher reads no manifest: with -jar it would open the jar through
    // a JarFile of its own, which indexes all its entries once more than the class loader does (and verifies it with
    // java.util.jar.JarVerifier, which the cache, trained with -cp, does not hold).
    assertThat(info).noneMatch(l -> l.contains("source: file:") || l.contains(" java.util.jar.JarVerifier source: jrt:/"));
    // info runs with a cache of its own, trained on info alone: it holds no class of the qcow2 write path, which the
    // short commands' cache holds (a JVM loads every class of its cache at start, so the log shows all it holds).
    assertThat(info).noneMatch(l -> l.contains(" dev.vdisk.format.qcow2.AllocatingWriter "));
    for (String command : List.of("short", "long", "info", "check", "map", "measure", "create", "convert")) {
      assertThat(vdisk.resolveSibling("../lib/vdisk-" + command + ".aot").normalize()).isNotEmptyFile();
    }
    // serve takes the long-running commands' cache, which holds the server's classes
    assertThat(classesLoaded("serve", "--help")).filteredOn(l -> l.contains(" dev.vdisk.nbd.server.NbdServer "))
        .singleElement().asString().endsWith("source: shared objects file");
    // convert runs with a cache of its own, recorded with the options it runs with (C1 only, the serial collector): it
    // holds convert's classes and none of the server's
    List<String> convert = classesLoaded("convert", "-O", "qcow2", "disk.raw", "copy.qcow2");
    assertThat(convert).filteredOn(l -> l.contains(" dev.vdisk.ops.internal.Convert ")).singleElement().asString()
        .endsWith("source: shared objects file");
    assertThat(convert).noneMatch(l -> l.contains(" dev.vdisk.nbd.server.NbdServer ") || l.contains("source: file:"));
  }

  private List<String> classesLoaded(String... args) throws IOException, InterruptedException {
    Path log = work.resolve("classes.log");
    Files.deleteIfExists(log);
    Result r = user(vdisk, Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load=info:file=" + log), args);
    assertThat(r.exit()).as(r.err()).isZero();
    return Files.readAllLines(log);
  }

  @Test
  void ignoresACacheThatNoLongerMatches() throws IOException, InterruptedException {
    Path copy = work.resolve("copy");
    Result cp = run(work, Map.of("PATH", System.getenv("PATH")), "cp", "-a", vdisk.getParent().getParent().toString(), copy.toString());
    assertThat(cp.exit()).as(cp.err()).isZero();
    Path jar = copy.resolve("lib/vdisk.jar");
    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 60_000));
    Result version = user(copy.resolve("bin/vdisk"), Map.of(), "--version");
    assertThat(version.exit()).as(version.err()).isZero();
    assertThat(version.out()).startsWith("vdisk version ");
    assertThat(version.err()).isEmpty();
  }
}
