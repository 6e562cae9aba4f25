package dev.vdisk.cli;

import com.sun.nio.file.ExtendedOpenOption;
import dev.vdisk.io.internal.NativeLinks;
import dev.vdisk.io.rbd.RbdDevice;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The training runs of vdisk's AOT caches (JDK 25's {@code -XX:AOTCacheOutput}): not a vdisk command, but the program
 * that the launcher and the distribution's build run once per build, so that a cache holds the classes, linkage and
 * method profiles of what users run.
 *
 * <p>{@code java -XX:AOTCacheOutput=F -cp vdisk.jar dev.vdisk.cli.AotTraining KIND DIR} runs, in one JVM and in the
 * folder DIR (empty but for the last kind below), one of these trainings, kept apart because a JVM loads every class of its cache at start and so a cache that
 * also held the server's classes would slow each short command:
 * <ul>
 *   <li>{@code short}: the commands that scripts call many times on small images ({@code create info check map
 *       measure snapshot resize help}, human and JSON output; a snapshot created, listed, applied and deleted), for
 *       every command but the long ones below and those with a cache of their own; the launchers run these with C1 only and the serial collector, and
 *       record their cache so;</li>
 *   <li>{@code long}: {@code convert} (plain and compressed), {@code compare}, {@code io}, {@code bench},
 *       {@code rebase} and {@code commit} of the overlay, then {@code serve} on a unix socket driven by real NBD
 *       clients ({@code qemu-img bench} reading and writing 4 KiB requests at depth 16 and 1 MiB ones at depth 4, on
 *       a qcow2 and on a raw export, {@code qemu-io}, {@code nbdcopy}), so that a fresh server starts with its
 *       request path's profiles; for {@code serve convert compare bench io commit rebase dd}, which can run long
 *       enough for C2's code to pay off; it also runs bench's depth-16 cells under cache=none with {@code -i native}
 *       and {@code -i io_uring} on raw and qcow2 ({@link #directAio}) and its depth-16 writes under writethrough, and serves those images under {@code --cache=none} ({@link #serveDirect}).</li>
 * </ul>
 * Both also open an image on Ceph RBD as far as that goes without a cluster ({@link #rbd}) and load the classes of
 * requests on RBD ({@link #rbdRequestClasses()}), so the RBD binding's classes come from the cache too. Clients missing from the PATH are skipped with a note on stderr: the cache is then trained on less. A command that
 * fails ends the run with exit status 1, naming it.
 *
 * <p>KIND may also be one of the hot short commands ({@link #OWN_CACHE}: {@code info check map measure create}),
 * which the launchers run each with a cache of its own: that command's part of the {@code short} training only (its
 * output formats, images and options), on the images of {@link #setup()} that {@code AotTraining images DIR} made
 * beforehand in another JVM (which records no cache), so that the cache holds no class of the commands that made
 * them ({@code io}'s). Such a cache holds about two thirds of the {@code short} cache's classes, which that command
 * would otherwise load at start for nothing. It has no RBD training: such a command on RBD loads the binding's
 * classes from the jar. {@code convert} has a cache of its own too ({@link #convertCommands}, then RBD as the
 * {@code long} training has it): a JVM loads every class of its cache at start, and the long cache's 2,900 classes
 * took convert's JVM 44-47 ms to create where convert's own 1,900 take 33-35 ms ({@code -Xlog:startuptime}).
 */
public final class AotTraining {
  /** Output thrown away, but encoded to bytes as {@link Main#main}'s standard output is (its classes go in the cache). */
  private static final Writer DISCARD = new PrintWriter(OutputStream.nullOutputStream(), false, System.out.charset());

  /** The short commands that have a cache of their own, trained on that command alone. */
  static final List<String> OWN_CACHE = List.of("info", "check", "map", "measure", "create", "convert");

  /** The kind that only makes the training images, in a JVM of its own before a command's training. */
  private static final String IMAGES = "images";

  private final Path dir;

  private AotTraining(Path dir) {
    this.dir = dir;
  }

  public static void main(String[] args) throws Exception {
    List<String> kinds = new ArrayList<>(List.of("short", "long", IMAGES));
    kinds.addAll(OWN_CACHE);
    if (args.length != 2 || !kinds.contains(args[0]) || !Files.isDirectory(Path.of(args[1]))) {
      System.err.println("AotTraining: usage: AotTraining short|long|images|" + String.join("|", OWN_CACHE) + " DIR (expected: "
          + "a kind of training and an existing folder for its images)");
      System.exit(1);
    }
    String kind = args[0];
    if (kind.equals(IMAGES)) {
      AotTraining images = new AotTraining(Path.of(args[1]).toAbsolutePath());
      images.run(images.setup());
      System.exit(0);
    }
    NativeLinks.startAhead(); // as Main.main does: so that its classes are in the cache, not read from the jar
    Main.excludeUnusedConverters(); // as Main.main does: the cache then holds no java.sql class nor unused java.time ones
    // The link thread and main contend on the JDK's concurrent maps now and then (method types, lambda forms); a
    // contended ConcurrentHashMap counter (the likeliest source) draws a ThreadLocalRandom probe, whose classes came
    // from the runtime image (AotTrainingIT caught RandomGenerator once). Loaded here, the cache holds them.
    ThreadLocalRandom.current();
    AotTraining training = new AotTraining(Path.of(args[1]).toAbsolutePath());
    if (OWN_CACHE.contains(kind)) {
      if (!Files.exists(training.dir.resolve("overlay.qcow2"))) {
        System.err.println("AotTraining: no training images in " + training.dir + " (expected: AotTraining images DIR "
            + "run first, in another JVM)");
        System.exit(1);
      }
      List<List<String>> all = new ArrayList<>(training.setup());
      all.addAll(training.shortCommands());
      all.addAll(training.convertCommands());
      training.run(all.stream().filter(command -> command.getFirst().equals(kind)).toList());
      if (kind.equals("convert")) { // both ways between RBD and files are common: the binding's classes, as below
        // What a run loads only when its timing says so: -W onto qcow2 waits for an overlapping allocation in flight
        // (InFlightAllocations' lowerEntry returns a TreeMap entry), a second thread takes a read lock while another
        // holds it (ReentrantReadWriteLock's per-thread hold count: raw onto qcow2 in a clean-clone CI run), or a
        // thread queues for a lock (the synchronizer's wait nodes); the training's small copy may meet none of them.
        for (String name : List.of("java.util.AbstractMap$SimpleImmutableEntry",
            "java.util.concurrent.locks.ReentrantReadWriteLock$Sync$HoldCounter",
            "java.util.concurrent.locks.ReentrantReadWriteLock$Sync$ThreadLocalHoldCounter",
            "java.util.concurrent.locks.AbstractQueuedSynchronizer$ExclusiveNode",
            "java.util.concurrent.locks.AbstractQueuedSynchronizer$SharedNode",
            "java.util.concurrent.locks.AbstractQueuedSynchronizer$ConditionNode")) {
          Class.forName(name, false, AotTraining.class.getClassLoader());
        }
        training.rbd(List.of("convert", "-O", "raw", rbdName(training), training.path("from-rbd.raw")));
        rbdRequestClasses();
        RbdDevice.linkCallbacks();
      }
      return; // as Main.main returns: the JVM's exit path (its shutdown hooks) loads its classes before the cache is written
    }
    training.run(training.setup());
    training.rbd(List.of("info", rbdName(training)));
    rbdRequestClasses();
    RbdDevice.linkCallbacks(); // what a command's connection made ahead for requests does (no cluster needed)
    if (kind.equals("short")) {
      training.run(training.shortCommands());
    } else {
      training.run(training.longCommands());
      boolean direct = training.directAio();
      training.serve();
      if (direct) {
        training.serveDirect();
      }
    }
    // The server's threads would keep the JVM alive; the AOT cache is written as the JVM exits.
    System.exit(0);
  }

  private void run(List<List<String>> commands) throws IOException {
    for (List<String> command : commands) {
      vdisk(command);
    }
  }

  /** Images for both trainings: a raw and a qcow2 with the same data, and an overlay over the qcow2. */
  private List<List<String>> setup() {
    List<List<String>> c = new ArrayList<>();
    c.add(List.of("--version"));
    c.add(List.of("create", "-f", "raw", "t.raw", "64M"));
    c.add(List.of("create", "-f", "qcow2", "t.qcow2", "64M"));
    for (String image : List.of("t.raw", "t.qcow2")) {
      c.add(List.of("io", "-c", "write -P 0xab 0 4M", "-c", "write -z 8M 1M", "-c", "read -P 0xab 0 4M",
          "-c", "discard 2M 1M", image));
    }
    c.add(List.of("create", "-q", "-f", "qcow2", "-b", "t.qcow2", "-F", "qcow2", "overlay.qcow2"));
    return c;
  }

  /**
   * The path of an image on Ceph RBD as far as it goes without a cluster (training has none): the name parsed, the
   * librados and librbd binding loaded and its one downcall shape linked ({@code rados_create}), then the refusal of
   * a conf file that does not exist. Without Ceph's client libraries the open is refused earlier; either way the
   * command must fail, in one line.
   */
  private void rbd(List<String> command) throws IOException {
    StringWriter err = new StringWriter();
    if (Main.run(DISCARD, new PrintWriter(err, true), command.toArray(String[]::new)) != 1 || err.toString().strip().contains("\n")) {
      throw new IOException("training command did not fail in one line: vdisk " + String.join(" ", command) + ": " + err);
    }
  }

  /**
   * Loads by name the classes that requests on RBD load, which {@link #rbd} cannot reach without a cluster: the
   * completions, callbacks and request queue of the binding, the JDK's FFM upcall classes (librbd's completion calls
   * back into Java), the attaching of librbd's threads, and a queued bench's and convert's classes around the RBD
   * queue; so that {@code info}, {@code map}, {@code io}, {@code convert}, {@code compare} and {@code bench} on RBD
   * load none of them from the jar or the runtime image ({@code RbdInteropIT}; the JDK's JFR event classes, which
   * no cache holds, aside). Loaded, not initialized.
   */
  private static void rbdRequestClasses() throws ClassNotFoundException {
    for (String name : List.of("dev.vdisk.format.internal.RbdContext", "dev.vdisk.io.rbd.RbdCallbacks",
        "dev.vdisk.io.rbd.RbdCompletion", "dev.vdisk.io.rbd.RbdCompletion$Out", "dev.vdisk.io.rbd.RbdDevice$Op", "dev.vdisk.io.rbd.BufferAddresses",
        "dev.vdisk.io.rbd.BufferAddresses$Seen",
        "dev.vdisk.io.rbd.RbdDiffCollector",
        "dev.vdisk.io.rbd.RbdQueue", "dev.vdisk.io.rbd.RbdQueue$Request", "dev.vdisk.io.rbd.RbdQueue$Dropped", "dev.vdisk.block.RequestQueue$Completion",
        "dev.vdisk.block.ForwardingQueue", "dev.vdisk.block.CheckedDevice$1", "dev.vdisk.bench.QueuedBenchRunner",
        // A convert off RBD reads its chunks into aligned buffers; the training's local converts map theirs, backing
        // files' data included.
        "dev.vdisk.io.internal.DirectBuffers",
        "jdk.internal.foreign.abi.UpcallLinker", "jdk.internal.foreign.abi.UpcallLinker$InvocationData",
        "jdk.internal.foreign.abi.UpcallStubs", "jdk.internal.foreign.abi.UpcallStubs$1",
        "jdk.internal.foreign.abi.BindingSpecializer$1", "jdk.internal.foreign.abi.Binding$Cast$1",
        "jdk.internal.foreign.SharedSession$SharedResourceList", "java.lang.invoke.MethodHandleImpl$WrappedMember",
        "java.lang.ThreadLocal$SuppliedThreadLocal", "java.lang.Thread$ThreadNumbering",
        "java.util.concurrent.atomic.AtomicIntegerArray", "java.lang.invoke.VarHandleInts$Array",
        "java.util.concurrent.atomic.AtomicReferenceArray", "java.lang.invoke.VarHandleReferences$Array",
        "jdk.internal.foreign.GlobalSession$HeapSession", "java.nio.MappedByteBuffer$1")) {
      Class.forName(name, false, AotTraining.class.getClassLoader());
    }
  }

  private List<List<String>> shortCommands() {
    List<List<String>> c = new ArrayList<>();
    for (String image : List.of("t.raw", "t.qcow2", "overlay.qcow2")) {
      for (String output : List.of("human", "json")) {
        c.add(List.of("info", "--output=" + output, image));
        c.add(List.of("map", "--output=" + output, image));
        if (image.endsWith(".qcow2")) { // raw has no checks: qemu-img and vdisk refuse them
          c.add(List.of("check", "--output=" + output, image));
        }
        c.add(List.of("measure", "--output=" + output, "-O", "qcow2", image));
      }
    }
    c.add(List.of("info", "--backing-chain", "overlay.qcow2"));
    c.add(List.of("measure", "-O", "qcow2", "--size", "1G"));
    c.add(List.of("snapshot", "-c", "training", "t.qcow2"));
    c.add(List.of("snapshot", "-l", "t.qcow2"));
    c.add(List.of("snapshot", "-a", "training", "t.qcow2"));
    c.add(List.of("snapshot", "-d", "training", "t.qcow2"));
    c.add(List.of("resize", "t.qcow2", "+1M"));
    c.add(List.of("help", "info"));
    return c;
  }

  /** An image on RBD whose conf file does not exist, for {@link #rbd}. */
  private static String rbdName(AotTraining training) {
    return "rbd:rbd/aot-training:conf=" + training.path("absent-ceph.conf");
  }

  /**
   * convert's training, part of the long commands' and the whole of convert's own cache: the three directions between
   * raw and qcow2 that bench/compare-convert.sh measures, with the defaults and with {@code -W -m 8}, compressed,
   * qcow2 to qcow2, and a chain flattened.
   */
  private List<List<String>> convertCommands() {
    List<List<String>> c = new ArrayList<>();
    c.add(List.of("convert", "-O", "qcow2", "t.raw", "c.qcow2"));
    c.add(List.of("convert", "-c", "-O", "qcow2", "t.raw", "z.qcow2"));
    c.add(List.of("convert", "-O", "raw", "c.qcow2", "back.raw"));
    c.add(List.of("convert", "-O", "raw", "t.raw", "copy.raw"));
    c.add(List.of("convert", "-W", "-m", "8", "-O", "raw", "t.qcow2", "unordered.raw"));
    c.add(List.of("convert", "-W", "-m", "8", "-O", "qcow2", "t.raw", "unordered.qcow2"));
    c.add(List.of("convert", "-O", "qcow2", "overlay.qcow2", "flat.qcow2"));
    return c;
  }

  private List<List<String>> longCommands() {
    List<List<String>> c = new ArrayList<>(convertCommands());
    c.add(List.of("compare", "t.raw", "c.qcow2"));
    c.add(List.of("create", "-q", "-f", "qcow2", "bench.qcow2", "64M"));
    c.add(List.of("bench", "-c", "20000", "-d", "16", "-w", "bench.qcow2"));
    c.add(List.of("bench", "-c", "20000", "-d", "16", "bench.qcow2"));
    // Depth-1 reads scattered over the image, as bench/compare-qemu.sh's 4 KiB cells, on qcow2 and raw: enough of
    // them that their request path's profiles are mature, so that a short bench compiles it with C2 sooner.
    for (String image : List.of("bench.qcow2", "t.raw")) {
      c.add(List.of("bench", "-c", "200000", "-d", "1", "-s", "4096", "-S", "1052672", image));
    }
    // A chain's copies: the overlay rebased onto another base (its differences compared and written), then committed.
    c.add(List.of("create", "-q", "-f", "qcow2", "rebased.qcow2", "64M"));
    c.add(List.of("io", "-c", "write -P 0x5a 0 32M", "rebased.qcow2"));
    c.add(List.of("io", "-c", "write -P 0xcd 1M 16M", "overlay.qcow2"));
    c.add(List.of("rebase", "-b", "rebased.qcow2", "-F", "qcow2", "overlay.qcow2"));
    c.add(List.of("commit", "overlay.qcow2"));
    return c;
  }

  /**
   * bench/compare-qemu.sh's depth-16 cells under cache=none with Linux AIO and io_uring ({@code -i native}, {@code -i
   * io_uring}: the queue of the raw file and of a qcow2 image, reads and overwrites of its written clusters), on small
   * images and short counts, and its depth-16 writes under writethrough (whose aligned writes go O_DIRECT too), so
   * that such a bench starts with that path's classes and profiles. Skipped with a note on a file system that refuses
   * O_DIRECT (tmpfs before Linux 6.6, some overlay file systems).
   *
   * @return whether the file system took O_DIRECT (and so the cells ran, and {@code direct.raw} and {@code
   *     direct.qcow2} exist)
   */
  private boolean directAio() throws IOException {
    try (FileChannel probe = FileChannel.open(dir.resolve("t.raw"), StandardOpenOption.READ, ExtendedOpenOption.DIRECT)) {
      probe.size();
    } catch (IOException | UnsupportedOperationException refused) {
      System.err.println("AotTraining: " + dir + " refuses O_DIRECT (" + refused.getMessage()
          + "): the cache=none aio=native and aio=io_uring bench and serve paths are trained without it");
      return false;
    }
    List<List<String>> c = new ArrayList<>();
    for (String format : List.of("raw", "qcow2")) {
      c.add(List.of("create", "-q", "-f", format, "direct." + format, "32M"));
      c.add(List.of("io", "-f", format, "-c", "write -P 0x3c 0 32M", "direct." + format));
    }
    // io_uring's queue as well: untrained, its classes loaded and its code interpreted and compiled while a short
    // bench runs (20,000 4 KiB reads at depth 16: 0.13-0.20 CPU-s and 120-230 compilations more than native's).
    for (String aio : List.of("threads", "native", "io_uring")) {
      for (String image : List.of("direct.raw", "direct.qcow2")) {
        for (boolean write : List.of(false, true)) {
          // -f as bench/compare-qemu.sh gives it.
          List<String> bench = new ArrayList<>(List.of("bench", "-f", image.substring(image.indexOf('.') + 1), "-t",
              "none", "-i", aio, "-c", "30000", "-d", "16", "-s", "4096", "-S", "1052672"));
          if (write) {
            bench.add("-w");
          }
          bench.add(image);
          c.add(bench);
        }
      }
    }
    // Writes under writethrough, whose aligned writes go through an O_DIRECT descriptor of their own
    // (dev.vdisk.io.WritethroughPath) and wait for a group commit (dev.vdisk.block.filter.GroupFlush): untrained, that
    // path's classes came from the jar (the launchers run such a bench with C1 only and without the cache's profile
    // replay, so its classes are what the cache gives it): 62 classes from the jar or spun at run time -> 47 (the
    // JDK's FFM and proxy classes). The wall time of bench/compare-qemu.sh's one-second cell (7,000 writes, a fifth of
    // a second) goes to the JIT's warm-up instead, about 0.06 s before the request path is compiled.
    for (String image : List.of("direct.raw", "direct.qcow2")) {
      c.add(List.of("bench", "-f", image.substring(image.indexOf('.') + 1), "-t", "writethrough", "-c", "2000", "-d",
          "16", "-s", "4096", "-S", "1052672", "-w", image));
    }
    run(c);
    return true;
  }

  /** Runs one vdisk command line in this JVM; a failure ends the training. */
  private void vdisk(List<String> command) throws IOException {
    StringWriter err = new StringWriter();
    List<String> args = command.stream().map(a -> a.endsWith(".raw") || a.endsWith(".qcow2") ? path(a) : a).toList();
    int status = Main.run(DISCARD, new PrintWriter(err, true), args.toArray(String[]::new));
    if (status != 0) {
      throw new IOException("training command failed: vdisk " + String.join(" ", command) + ": " + err.toString().strip());
    }
  }

  private String path(String name) {
    return dir.resolve(name).toString();
  }

  /**
   * {@code vdisk serve -t} on a unix socket in this JVM, driven by each NBD client found on the PATH in turn; the
   * server's threads end with the JVM. With {@code --pid-file}, which service managers pass, so that its writer
   * ({@code AtomicFiles}) comes from the cache too.
   */
  private void serve() throws Exception {
    String uri = startServer("serve.sock", "qcow2", "train", "c.qcow2", "--pid-file", path("serve.pid"));
    client("qemu-img", "bench", "-f", "raw", "-c", "20000", "-d", "16", "-s", "4096", "-S", "1052672", uri);
    client("qemu-img", "bench", "-f", "raw", "-w", "-c", "20000", "-d", "16", "-s", "4096", "-S", "1052672", uri);
    client("qemu-io", "-f", "raw", "-c", "write -P 0xcd 0 1M", "-c", "write -z 1M 1M", "-c", "discard 2M 1M",
        "-c", "read -P 0xcd 0 1M", "-c", "flush", uri);
    client("qemu-img", "map", "-f", "raw", "--output=json", uri);
    client("nbdcopy", uri, "null:");
    client("nbdcopy", "--connections=4", uri, "null:");
    // large requests: reads sent with sendfile from a raw file, 1 MiB writes run on the connection's reader
    String raw = startServer("raw.sock", "raw", "raw", "t.raw");
    for (String u : List.of(uri, raw)) {
      client("qemu-img", "bench", "-f", "raw", "-c", "2000", "-d", "4", "-s", "1048576", u);
      client("qemu-img", "bench", "-f", "raw", "-w", "-c", "2000", "-d", "4", "-s", "1048576", u);
    }
    client("nbdcopy", "--connections=4", raw, "null:");
  }

  /**
   * {@code vdisk serve --cache=none} of the images {@link #directAio} made, driven by {@code qemu-img bench}'s 4 KiB
   * reads and writes at depth 16 (bench/compare-nbd.sh's cache=none cells): the connection's request queue ({@code
   * DirectQueue}) under serve's default aio there, io_uring, on raw, and under {@code --aio=native} on qcow2, so that a
   * fresh {@code serve --cache=none} starts with that path's classes and profiles rather than loading them from the
   * jar and interpreting them. Short counts: these cells add about two seconds to the training.
   */
  private void serveDirect() throws Exception {
    String raw = startServer("direct-raw.sock", "raw", "direct-raw", "direct.raw", "--cache=none");
    String qcow2 = startServer("direct-qcow2.sock", "qcow2", "direct-qcow2", "direct.qcow2", "--cache=none", "--aio=native");
    for (String u : List.of(raw, qcow2)) {
      client("qemu-img", "bench", "-f", "raw", "-c", "8000", "-d", "16", "-s", "4096", "-S", "1052672", u);
      client("qemu-img", "bench", "-f", "raw", "-w", "-c", "8000", "-d", "16", "-s", "4096", "-S", "1052672", u);
    }
  }

  /**
   * Starts {@code vdisk serve OPTIONS} of {@code image} as {@code export} in this JVM, waits until it listens; returns
   * its URI.
   */
  private String startServer(String socketName, String format, String export, String image, String... options)
      throws Exception {
    Path socket = dir.resolve(socketName);
    List<String> args = new ArrayList<>(List.of("serve", "-t", "-e", "0", "-k", socket.toString(), "-f", format,
        "-x", export));
    args.addAll(List.of(options));
    args.add(path(image));
    Thread server = Thread.ofPlatform().daemon().name("training-serve").start(() -> Main.run(DISCARD, DISCARD,
        args.toArray(String[]::new)));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!accepts(socket)) {
      if (!server.isAlive() || System.nanoTime() > deadline) {
        throw new IOException("training command failed: vdisk serve did not listen on " + socket + " within 30 s");
      }
      Thread.sleep(20);
    }
    return "nbd+unix:///" + export + "?socket=" + socket;
  }

  /** Whether a server accepts connections on {@code socket} yet (the file appears before the server listens). */
  private static boolean accepts(Path socket) {
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      return probe.isConnected();
    } catch (IOException notYet) {
      return false;
    }
  }

  /** Runs an NBD client against the training server (at most a minute); a missing one is skipped. */
  private void client(String tool, String... args) throws IOException, InterruptedException {
    Optional<Path> exe = onPath(tool);
    if (exe.isEmpty()) {
      System.err.println("AotTraining: " + tool + " not found on the PATH: the server is trained without it");
      return;
    }
    List<String> command = new ArrayList<>();
    command.add(exe.get().toString());
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("training client still running after 60 s: " + String.join(" ", command));
    }
    if (p.exitValue() != 0) {
      throw new IOException("training client failed with exit status " + p.exitValue() + ": " + String.join(" ", command));
    }
  }

  private static Optional<Path> onPath(String tool) {
    String path = System.getenv("PATH");
    return path == null ? Optional.empty() : Stream.of(path.split(File.pathSeparator)).filter(d -> !d.isEmpty())
        .map(d -> Path.of(d, tool)).filter(Files::isExecutable).findFirst();
  }
}
