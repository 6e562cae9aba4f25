package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AOT caches' training runs, as the launcher and the distribution's build record them: both succeed on the shaded
 * jar, the long one with its NBD clients; the short one's cache holds the classes of a short command and picocli's,
 * that command links only the native calls it makes, and it holds none of the server's classes.
 */
class AotTrainingIT {
  private static final Path JAR = AotCaches.JAR;
  private static final String JAVA = AotCaches.JAVA;

  @TempDir Path dir;

  /** The class-load log of {@code vdisk ARGS} run as the launchers run it, with the cache {@code aot} of {@code kind}. */
  private List<String> classesLoaded(String kind, Path aot, String... args) throws IOException, InterruptedException {
    return classesLoaded(AotCaches.jvmOptions(kind), aot, args);
  }

  /** The class-load log of {@code vdisk ARGS} run with the JVM options {@code options} and the cache {@code aot}. */
  private List<String> classesLoaded(List<String> options, Path aot, String... args)
      throws IOException, InterruptedException {
    Path log = dir.resolve("classes.log");
    List<String> command = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED"));
    command.addAll(options);
    command.addAll(List.of("-XX:AOTCache=" + aot, "-Xlog:class+load=info:file=" + log, "-cp", JAR.toString(),
        "dev.vdisk.cli.Main"));
    command.addAll(List.of(args));
    PeerTools.Result r = PeerTools.run(dir, command.toArray(String[]::new));
    assertThat(r.exit()).as(r.err()).isZero();
    return Files.readAllLines(log);
  }

  private static void assertFromCache(List<String> log, String className) {
    assertThat(log).filteredOn(l -> l.contains(" " + className + " ")).singleElement().asString()
        .as(className).endsWith("source: shared objects file");
  }

  @Test
  void shortCommandsLoadFromTheirCache() throws IOException, InterruptedException {
    Path aot = AotCaches.of("short");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "small.qcow2", "1M");
    List<String> log = classesLoaded("short", aot, "info", "small.qcow2");
    for (String c : List.of("dev.vdisk.cli.InfoCommand", "picocli.CommandLine", "dev.vdisk.format.qcow2.Qcow2Image")) {
      assertFromCache(log, c);
    }
    // Each downcall shape is linked on its first call (generating its stub costs tens of milliseconds of CPU): info's
    // open, fstat, fcntl (image locks) and close all go through libc's syscall(2), one shape, one stub.
    assertThat(log).filteredOn(l -> l.contains(" jdk.internal.foreign.abi.DowncallStub/")).hasSize(1);
    // Every class info loads from a file comes from the cache (only those generated at run time do not).
    assertThat(log).noneMatch(l -> l.contains("source: jrt:/") || l.contains("source: file:"));
    // picocli's model of the short commands is built in code (CommandModels): no annotation is read, so the JVM spins
    // no proxy class for one (each costs milliseconds of CPU, and no cache holds them).
    for (String[] args : List.of(new String[] {"info", "small.qcow2"}, new String[] {"check", "small.qcow2"},
        new String[] {"map", "small.qcow2"}, new String[] {"measure", "-O", "qcow2", "small.qcow2"},
        new String[] {"create", "-q", "-f", "qcow2", "new.qcow2", "1M"})) {
      List<String> shortLog = args[0].equals("info") ? log : classesLoaded("short", aot, args);
      assertThat(shortLog).as(args[0]).noneMatch(l -> l.contains("source: __dynamic_proxy__"));
    }
    // A JVM loads every class of its cache at start: the server's stay out of the short commands' cache.
    assertThat(log).noneMatch(l -> l.contains(" dev.vdisk.nbd.server.NbdServer ") || l.contains(" dev.vdisk.nbd.server.Transmission "));
    // Snapshot create and delete find their transaction's classes there too.
    for (String op : List.of("-c", "-d")) {
      List<String> snapshotLog = classesLoaded("short", aot, "snapshot", op, "s", "small.qcow2");
      assertFromCache(snapshotLog, "dev.vdisk.format.qcow2.SnapshotTransaction");
    }
  }

  /**
   * info, check, map, measure and create each run with a cache of their own, trained on that command alone: every
   * class each loads from a file comes from it (the JDK's JFR event classes, which no cache holds, aside), in human
   * and JSON output, on raw, qcow2 and an overlay; and since a JVM loads every class of its cache at start, the log
   * shows that it holds none of the qcow2 write path of {@code io}, which made the training's images in another JVM.
   */
  @Test
  void hotShortCommandsLoadFromTheirOwnCache() throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "small.qcow2", "1M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 7 0 64k", "small.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "small.qcow2", "-F", "qcow2", "top.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "small.raw", "1M");
    List<String[]> runs = List.of(new String[] {"info", "small.qcow2"}, new String[] {"info", "--output=json", "small.raw"},
        new String[] {"info", "--backing-chain", "top.qcow2"}, new String[] {"check", "small.qcow2"},
        new String[] {"check", "--output=json", "top.qcow2"}, new String[] {"map", "small.qcow2"},
        new String[] {"map", "--output=json", "top.qcow2"}, new String[] {"measure", "-O", "qcow2", "small.raw"},
        new String[] {"measure", "--output=json", "-O", "qcow2", "top.qcow2"},
        new String[] {"measure", "-O", "qcow2", "--size", "1G"}, new String[] {"create", "-f", "qcow2", "new.qcow2", "1M"},
        new String[] {"create", "new.raw", "1M"});
    for (String command : AotTraining.OWN_CACHE) {
      if (command.equals("convert")) {
        continue; // convertLoadsFromItsOwnCache
      }
      Path aot = AotCaches.of(command);
      for (String[] args : runs) {
        if (!args[0].equals(command)) {
          continue;
        }
        List<String> log = classesLoaded(command, aot, args);
        String run = String.join(" ", args);
        assertFromCache(log, "dev.vdisk.cli." + Character.toUpperCase(command.charAt(0)) + command.substring(1) + "Command");
        assertThat(log).as(run).noneMatch(l -> l.contains("source: file:")
            || l.contains("source: jrt:/") && !l.contains(" jdk.internal.event."));
        assertThat(log).as(run).noneMatch(l -> l.contains(" dev.vdisk.format.qcow2.AllocatingWriter "));
      }
    }
  }

  /**
   * convert runs with a cache of its own: in the directions and modes bench/compare-convert.sh measures, every class it
   * loads from a file comes from that cache (the JDK's JFR event classes aside), and the cache holds none of the
   * server's classes, which the long commands' cache it ran with before holds (a JVM loads every class of its cache at
   * start).
   */
  @Test
  void convertLoadsFromItsOwnCache() throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "half.qcow2", "8M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 7 0 4M", "half.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "half.raw", "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 7 0 4M", "half.raw");
    Path aot = AotCaches.of("convert");
    List<String[]> runs = List.of(new String[] {"convert", "-O", "raw", "half.qcow2", "a.raw"},
        new String[] {"convert", "-O", "qcow2", "half.raw", "b.qcow2"}, new String[] {"convert", "-O", "raw", "half.raw", "c.raw"},
        new String[] {"convert", "-W", "-m", "8", "-O", "raw", "half.qcow2", "d.raw"},
        new String[] {"convert", "-W", "-m", "8", "-O", "qcow2", "half.raw", "e.qcow2"},
        new String[] {"convert", "-c", "-O", "qcow2", "half.raw", "f.qcow2"});
    for (String[] args : runs) {
      List<String> log = classesLoaded("convert", aot, args);
      String run = String.join(" ", args);
      assertFromCache(log, "dev.vdisk.cli.ConvertCommand");
      assertThat(log).as(run).noneMatch(l -> l.contains("source: file:")
          || l.contains("source: jrt:/") && !l.contains(" jdk.internal.event."));
      assertThat(log).as(run).noneMatch(l -> l.contains(" dev.vdisk.nbd.server.NbdServer "));
    }
  }

  @Test
  void longCommandsTrainTheServerWithRealClients() throws IOException, InterruptedException {
    for (String peer : new String[] {"qemu-img", "qemu-io", "nbdcopy"}) {
      PeerTools.require(peer);
    }
    Path aot = AotCaches.of("long");
    assertFromCache(classesLoaded("long", aot, "serve", "--help"), "dev.vdisk.nbd.server.NbdServer");
    // A chain's copies start with their classes (and the JIT's profiles of them) from the cache.
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 7 0 64k", "top.qcow2");
    List<String> commit = classesLoaded("long", aot, "commit", "top.qcow2");
    for (String c : List.of("dev.vdisk.ops.internal.Commit", "dev.vdisk.ops.internal.CopyPipeline",
        "dev.vdisk.ops.internal.WritebackAhead")) {
      assertFromCache(commit, c);
    }
    assertFromCache(classesLoaded("long", aot, "rebase", "-b", "", "top.qcow2"), "dev.vdisk.ops.internal.ChunkReader");
    // convert runs with C1 only, the serial collector, no training replay and the cache at its recorded address (the
    // launchers' options for it) over this cache, recorded without them: the JVM still takes convert's classes from it.
    List<String> convert = classesLoaded(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData",
        "-XX:+UnlockDiagnosticVMOptions", "-XX:-AOTReplayTraining", "-XX:ArchiveRelocationMode=0"), aot, "convert",
        "-O", "raw", "top.qcow2", "out.raw");
    for (String c : List.of("dev.vdisk.ops.internal.Convert", "dev.vdisk.ops.internal.SparseScanner",
        "dev.vdisk.ops.internal.MappedWindows")) {
      assertFromCache(convert, c);
    }
    // bench at depth 16 under cache=none with Linux AIO finds its queues in the cache, raw's and qcow2's (where the
    // file system takes O_DIRECT: the training skips those cells elsewhere, and so does this).
    if (takesDirect(dir.resolve("base.qcow2"))) {
      List<String> bench = classesLoaded("long", aot, "bench", "-t", "none", "-i", "native", "-d", "16", "-c", "1000",
          "-w", "top.qcow2");
      for (String c : List.of("dev.vdisk.io.AioQueue", "dev.vdisk.io.linux.LinuxAio",
          "dev.vdisk.format.qcow2.WritableImageQueue")) {
        assertFromCache(bench, c);
      }
      // So does io_uring's queue, where the kernel gives this process a ring: where it does not, bench falls back to
      // threads and never loads UringAio.
      List<String> uring = classesLoaded("long", aot, "bench", "-t", "none", "-i", "io_uring", "-d", "16", "-c", "1000",
          "-w", "top.qcow2");
      if (uring.stream().anyMatch(l -> l.contains(" dev.vdisk.io.linux.UringAio "))) {
        for (String c : List.of("dev.vdisk.io.AioQueue", "dev.vdisk.io.linux.UringAio", "dev.vdisk.io.linux.IoUring",
            "dev.vdisk.format.qcow2.WritableImageQueue")) {
          assertFromCache(uring, c);
        }
      }
      // bench's writes under writethrough (C1 only, the launchers' options for them) find their O_DIRECT path and
      // group commit there, with the neighbours' bookkeeping of a file through the page cache.
      List<String> writethrough = classesLoaded(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
          "-XX:-UsePerfData"), aot, "bench", "-f", "raw", "-t", "writethrough", "-d", "16", "-c", "1000", "-w",
          "out.raw");
      for (String c : List.of("dev.vdisk.io.WritethroughPath", "dev.vdisk.block.filter.WritethroughFilter",
          "dev.vdisk.block.filter.GroupFlush", "dev.vdisk.block.filter.WaitingWrites")) {
        assertFromCache(writethrough, c);
      }
      // serve --cache=none keeps a connection's aligned reads and writes in flight through the export's queue
      // (io_uring by default there): every vdisk class such a session loads comes from the cache, none from the jar
      // nor spun at run time (a lambda's class). Where the kernel gives no ring, the queue is not io_uring's and the
      // session proves nothing about this path.
      List<String> serve = serveDirectSession(aot);
      if (serve.stream().anyMatch(l -> l.contains(" dev.vdisk.io.linux.UringAio "))) {
        assertFromCache(serve, "dev.vdisk.nbd.server.DirectQueue$Job");
        assertThat(serve).noneMatch(l -> l.contains(" dev.vdisk.") && !l.endsWith("source: shared objects file"));
      }
    }
  }

  /**
   * The class-load log of {@code vdisk serve --cache=none} of a raw file (the launchers' JVM options for long
   * commands, the cache {@code aot}), driven by {@code qemu-img bench}'s 4 KiB reads and then writes at depth 16, read
   * while the server still runs: stopped by a signal, it then spins three lambdas of its stop, which no training can
   * hold (the training's server ends with the JVM that records the cache, not by a signal).
   */
  private List<String> serveDirectSession(Path aot) throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "direct.raw", "16M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 7 0 16M", "direct.raw");
    Path log = dir.resolve("serve-classes.log");
    Path socket = dir.resolve("direct.sock");
    List<String> command = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED"));
    command.addAll(AotCaches.jvmOptions("long"));
    command.addAll(List.of("-XX:AOTCache=" + aot, "-Xlog:class+load=info:file=" + log, "-cp", JAR.toString(),
        "dev.vdisk.cli.Main", "serve", "-t", "-e", "0", "-k", socket.toString(), "-f", "raw", "--cache=none",
        "direct.raw"));
    Process server = new ProcessBuilder(command).directory(dir.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!accepts(socket)) { // the file appears before the server listens
        assertThat(server.isAlive()).as("serve --cache=none running").isTrue();
        assertThat(System.nanoTime()).as("serve --cache=none listening within 60 s").isLessThan(deadline);
        Thread.sleep(20);
      }
      String uri = "nbd+unix:///?socket=" + socket;
      PeerTools.check(dir, "qemu-img", "bench", "-f", "raw", "-c", "4000", "-d", "16", "-s", "4096", uri);
      PeerTools.check(dir, "qemu-img", "bench", "-f", "raw", "-w", "-c", "4000", "-d", "16", "-s", "4096", uri);
      return Files.readAllLines(log);
    } finally {
      server.destroy();
      server.waitFor(60, TimeUnit.SECONDS);
    }
  }

  private static boolean accepts(Path socket) {
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      return probe.isConnected();
    } catch (IOException notYet) {
      return false;
    }
  }

  private static boolean takesDirect(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, ExtendedOpenOption.DIRECT)) {
      return ch.size() >= 0;
    } catch (IOException | UnsupportedOperationException refused) {
      return false;
    }
  }
}
