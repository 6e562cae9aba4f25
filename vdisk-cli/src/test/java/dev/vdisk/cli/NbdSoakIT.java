package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Soak: {@code vdisk serve} (the jar, as users run it) under 64 connections of real clients at once, for
 * {@code vdisk.soak.seconds} (30 by default; {@code -Psoak}: 600):
 *
 * <ul>
 *   <li>16 fio jobs (its nbd engine, libnbd) writing at random with {@code verify=crc32c} checked as they go, each in
 *       its own MiB of the shared qcow2 export;
 *   <li>32 qemu-io clients, one connection per session, each owning a MiB of the same shared export: writes, reads
 *       with pattern checks, zeroes with and without unmap, discards, FUA writes and flushes, round after round;
 *   <li>8 qemu-io clients writing and flushing in their own scratch MiBs of the shared export, killed with SIGKILL
 *       at random moments and started again;
 *   <li>4 nbdcopy copies (two connections each) writing random data with zero runs into separate raw exports and
 *       reading it back, compared byte for byte.
 * </ul>
 *
 * At the end every byte whose final content is known is verified (each qemu-io MiB reads its last round's pattern
 * from the image file, each separate export equals its last source), the server exits 0 on SIGTERM, {@code qemu-img
 * check} finds the shared image clean, and the server's resident memory and thread count stayed flat: the peak of
 * the last quarter of the run is within 25% + 32 MiB of the peak of the second quarter, and the threads once the
 * clients are gone are within 8 of those before they came. Figures (requests, bytes, errors, fio's p99, memory and
 * threads over time) are printed as {@code NbdSoakIT:} lines. The server runs with a fixed, pre-touched 256 MiB heap.
 */
class NbdSoakIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");
  private static final int SECONDS = Integer.getInteger("vdisk.soak.seconds", 30);
  private static final int MIB = 1 << 20;
  private static final int FIO_JOBS = 16;
  private static final int QEMU_IO_CLIENTS = 32;
  private static final int KILLED_CLIENTS = 8;
  private static final int COPIES = 4;
  /** The shared export: fio's MiBs, then qemu-io's, then the killed clients' scratch MiBs. */
  private static final long SHARED = (long) (FIO_JOBS + QEMU_IO_CLIENTS + KILLED_CLIENTS) * MIB;
  private static final int COPY_SIZE = 8 * MIB;
  /** The server's worker threads per connection at most ({@code Transmission.WORKERS}, nbdkit's default too). */
  private static final int WORKERS_PER_CONNECTION = 16;

  @TempDir Path dir;

  private final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
  private final AtomicLong kills = new AtomicLong();
  private final AtomicLong sessions = new AtomicLong();
  private Path socket;
  private long deadline;

  @Test
  void sixtyFourClientsLoseNothingAndTheServerStaysFlat() throws Exception {
    for (String tool : List.of("qemu-img", "qemu-io", "nbdcopy", "fio")) {
      PeerTools.require(tool);
    }
    PeerTools.Result nbdEngine = PeerTools.run(dir, "fio", "--enghelp=nbd");
    dev.vdisk.testkit.Peers.requireThat(nbdEngine.exit() == 0, "fio here has no nbd engine");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "shared.qcow2", Long.toString(SHARED));
    // A fixed, pre-touched heap: the resident memory then grows only by what leaks outside it (direct buffers,
    // threads, native memory), which is what the flatness check is after; a lazily grown heap would hide it.
    List<String> cmd = new ArrayList<>(List.of(JAVA, "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch",
        "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve",
        "-t", "-e", "0", "-k", "s.sock", "--metrics", "127.0.0.1:0",
        "--export", "name=shared,file=shared.qcow2,format=qcow2,discard=unmap"));
    for (int k = 0; k < COPIES; k++) {
      PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "sep" + k + ".raw", Integer.toString(COPY_SIZE));
      cmd.addAll(List.of("--export", "name=sep" + k + ",file=sep" + k + ".raw,format=raw,discard=unmap"));
    }
    socket = dir.resolve("s.sock");
    Path log = dir.resolve("serve.log");
    Process server = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    List<long[]> samples = new ArrayList<>();
    Map<String, Integer> namesAtPeak = new TreeMap<>();
    int[] lastRound = new int[QEMU_IO_CLIENTS];
    byte[][] lastCopy = new byte[COPIES][];
    JsonNode fio;
    String metrics;
    long[] before;
    try {
      awaitLog(log, "event=listen");
      before = sample(server.pid());
      Thread sampler = Thread.ofPlatform().daemon().start(() -> {
        try {
          while (!Thread.currentThread().isInterrupted()) {
            long[] s = sample(server.pid());
            synchronized (samples) {
              if (samples.stream().allMatch(earlier -> earlier[2] < s[2])) {
                namesAtPeak.clear();
                namesAtPeak.putAll(threadNames(server.pid()));
              }
              samples.add(s);
            }
            Thread.sleep(250);
          }
        } catch (IOException | InterruptedException stop) {
          // The server is gone or the run is over.
        }
      });
      deadline = System.nanoTime() + SECONDS * 1_000_000_000L;
      try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
        Future<JsonNode> fioRun = clients.submit(this::fio);
        for (int c = 0; c < QEMU_IO_CLIENTS; c++) {
          int client = c;
          clients.submit(() -> qemuIoRounds(client, lastRound));
        }
        for (int c = 0; c < KILLED_CLIENTS; c++) {
          int client = c;
          clients.submit(() -> killedClient(client));
        }
        for (int c = 0; c < COPIES; c++) {
          int copy = c;
          clients.submit(() -> copies(copy, lastCopy));
        }
        fio = fioRun.get();
      }
      Thread.sleep(1000);
      sampler.interrupt();
      sampler.join();
      long[] after = sample(server.pid());
      synchronized (samples) {
        samples.add(after);
      }
      String url = Files.readString(log).replaceAll("(?s).*event=metrics url=(\\S+).*", "$1");
      metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      server.destroy(); // SIGTERM
      assertThat(server.waitFor(60, TimeUnit.SECONDS)).as("the server stops on SIGTERM").isTrue();
      assertThat(server.exitValue()).as("server exit status; log:\n%s", tail(log)).isZero();
      assertThat(failures).as("client failures").isEmpty();
      report(fio, metrics, before, after, samples);
      System.out.println("NbdSoakIT: server threads at their peak, by name: " + namesAtPeak);
      flat(before, after, samples);
      bounded(before, namesAtPeak);
    } finally {
      server.destroyForcibly();
    }
    assertThat(Files.readString(log)).doesNotContain("internal error");
    verifyQemuIoRegions(lastRound);
    for (int k = 0; k < COPIES; k++) {
      if (lastCopy[k] != null) {
        assertThat(Arrays.mismatch(Files.readAllBytes(dir.resolve("sep" + k + ".raw")), lastCopy[k])).as("sep%d", k).isEqualTo(-1);
      }
    }
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "shared.qcow2");
    assertThat(check.exit()).as("qemu-img check: %s", check.out() + check.err()).isZero();
  }

  private boolean running() {
    return System.nanoTime() < deadline;
  }

  private String uri(String export) {
    return "nbd+unix:///" + export + "?socket=" + socket;
  }

  /**
   * fio's nbd engine: 16 jobs, one connection each, random writes verified with crc32c as they go. A time-based job
   * starts its random map again when it wraps, so a write can overlap one of its own still in flight; NBD lets a
   * server complete those in any order, so fio holds such a write back ({@code serialize_overlap}) instead of
   * checking an order no server promises (a CI run under load failed on one such block).
   */
  private JsonNode fio() throws Exception {
    Path job = dir.resolve("soak.fio");
    Files.writeString(job, String.join("\n", "[global]", "ioengine=nbd", "uri=" + uri("shared"), "rw=randwrite",
        "bsrange=4k-64k", "iodepth=4", "size=1m", "offset_increment=1m", "numjobs=" + FIO_JOBS, "verify=crc32c",
        "verify_backlog=16", "verify_fatal=1", "serialize_overlap=1", "time_based", "runtime=" + SECONDS, "[soak]", ""));
    // Not PeerTools.run, which gives a peer a minute: fio runs as long as the soak.
    Path log = dir.resolve("fio.log");
    Process p = new ProcessBuilder("fio", "--output-format=json", "--output=fio.json", job.toString())
        .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!p.waitFor(SECONDS + 300L, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      failures.add("fio still running " + (SECONDS + 300) + " s after it started");
    } else if (p.exitValue() != 0) {
      failures.add("fio exit " + p.exitValue() + ": " + Files.readString(log));
    }
    return new ObjectMapper().readTree(dir.resolve("fio.json").toFile());
  }

  /** One qemu-io session after another on the client's own MiB; {@code last[client]} is the last round completed. */
  private void qemuIoRounds(int client, int[] last) {
    long base = (long) (FIO_JOBS + client) * MIB;
    for (int round = 1; running() && failures.isEmpty(); round++) {
      int p = pattern(client, round);
      String hex = "0x" + Integer.toHexString(p);
      List<String> c = List.of("write -P " + hex + " " + base + " 1M", "read -P " + hex + " " + base + " 1M",
          "write -z " + (base + 128 * 1024) + " 64k", "read -P 0 " + (base + 128 * 1024) + " 64k",
          "write -z -u " + (base + 384 * 1024) + " 64k", "read -P 0 " + (base + 384 * 1024) + " 64k",
          "discard " + (base + 256 * 1024) + " 64k", "flush",
          "write -P " + hex + " " + (base + 128 * 1024) + " 64k", "write -f -P " + hex + " " + (base + 256 * 1024) + " 64k",
          "write -P " + hex + " " + (base + 384 * 1024) + " 64k", "flush", "read -P " + hex + " " + base + " 1M");
      if (qemuIo(c, "qemu-io client " + client + " round " + round)) {
        last[client] = round;
      }
    }
  }

  private static int pattern(int client, int round) {
    return 1 + (client * 7 + round) % 250;
  }

  /** Runs one qemu-io session; a failed command (qemu-io still exits 0) is a failure of the soak. */
  private boolean qemuIo(List<String> commands, String what) {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(uri("shared"));
    try {
      PeerTools.Result r = PeerTools.run(dir, cmd.toArray(String[]::new));
      sessions.incrementAndGet();
      String out = r.out() + r.err();
      if (r.exit() != 0 || out.contains("failed") || out.contains("error")) {
        failures.add(what + ": exit " + r.exit() + ": " + out);
        return false;
      }
      return true;
    } catch (IOException | InterruptedException e) {
      failures.add(what + ": " + e);
      return false;
    }
  }

  /** qemu-io writing and flushing its scratch MiB, killed with SIGKILL after a random while, again and again. */
  private void killedClient(int client) {
    long base = (long) (FIO_JOBS + QEMU_IO_CLIENTS + client) * MIB;
    Random random = new Random(client);
    while (running() && failures.isEmpty()) {
      List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
      for (int i = 0; i < 200; i++) {
        cmd.addAll(List.of("-c", "write -P 0x" + Integer.toHexString(1 + i % 250) + " " + (base + (i % 16) * 65536L) + " 64k"));
        if (i % 10 == 0) {
          cmd.addAll(List.of("-c", "flush"));
        }
      }
      cmd.add(uri("shared"));
      try {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Thread.sleep(50 + random.nextInt(450));
        p.destroyForcibly();
        p.waitFor();
        kills.incrementAndGet();
      } catch (IOException | InterruptedException e) {
        failures.add("killed client " + client + ": " + e);
      }
    }
  }

  /** nbdcopy writes random data with zero runs into a separate export and reads it back; the two must be equal. */
  private void copies(int copy, byte[][] last) {
    Random random = new Random(copy);
    Path source = dir.resolve("src" + copy + ".raw");
    Path back = dir.resolve("back" + copy + ".raw");
    try {
      while (running() && failures.isEmpty()) {
        byte[] data = new byte[COPY_SIZE];
        for (int at = 0; at < COPY_SIZE; at += 64 * 1024) {
          if (random.nextInt(3) != 0) {
            byte[] piece = new byte[64 * 1024];
            random.nextBytes(piece);
            System.arraycopy(piece, 0, data, at, piece.length);
          }
        }
        Files.write(source, data);
        PeerTools.check(dir, "nbdcopy", "--connections=2", source.toString(), uri("sep" + copy));
        last[copy] = data;
        Files.deleteIfExists(back);
        PeerTools.check(dir, "nbdcopy", "--connections=2", uri("sep" + copy), back.toString());
        sessions.addAndGet(4);
        if (Arrays.mismatch(Files.readAllBytes(back), data) != -1) {
          failures.add("nbdcopy " + copy + ": read back differs from what was written");
        }
      }
    } catch (IOException | InterruptedException | AssertionError e) {
      failures.add("nbdcopy " + copy + ": " + e);
    }
  }

  /** Each qemu-io client's MiB holds its last completed round's pattern (read from the image file after the server stopped). */
  private void verifyQemuIoRegions(int[] lastRound) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2", "-r"));
    for (int c = 0; c < QEMU_IO_CLIENTS; c++) {
      assertThat(lastRound[c]).as("rounds completed by qemu-io client %d", c).isPositive();
      cmd.addAll(List.of("-c", "read -P 0x" + Integer.toHexString(pattern(c, lastRound[c])) + " " + (long) (FIO_JOBS + c) * MIB + " 1M"));
    }
    cmd.add("shared.qcow2");
    String out = PeerTools.check(dir, cmd.toArray(String[]::new));
    assertThat(out).doesNotContain("Pattern verification failed");
  }

  /** {@code [nanoTime, VmRSS bytes, Threads]} of process {@code pid}. */
  private static long[] sample(long pid) throws IOException {
    String status = Files.readString(Path.of("/proc/" + pid + "/status"));
    return new long[] {System.nanoTime(), field(status, "VmRSS") * 1024, field(status, "Threads")};
  }

  private static long field(String status, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + ":\\s+(\\d+)").matcher(status);
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  private static long peak(List<long[]> samples, double from, double to) {
    int n = samples.size();
    return samples.subList((int) (n * from), Math.max((int) (n * from) + 1, (int) (n * to))).stream()
        .mapToLong(s -> s[1]).max().orElseThrow();
  }

  private static void flat(long[] before, long[] after, List<long[]> samples) {
    long second = peak(samples, 0.25, 0.5);
    long last = peak(samples, 0.75, 1.0);
    assertThat(last).as("peak RSS of the last quarter vs the second quarter's %d MiB", second >> 20)
        .isLessThanOrEqualTo(second + second / 4 + 32L * MIB);
    assertThat(after[2]).as("server threads once the clients are gone (before they came: %d)", before[2])
        .isLessThanOrEqualTo(before[2] + 8);
  }

  /**
   * The threads at the peak are the ones the server's design allows: per connection thread ({@code nbd-conn}: one per
   * client connection, also for a killed client's until the server has seen it go and finished its requests) at
   * most {@link #WORKERS_PER_CONNECTION} request workers ({@code nbd-request}: started only for requests that wait
   * for the disk, ended 10 s after their last), and besides those at most 16 more threads than before the clients came
   * (the JDK's GC and compiler threads, the metrics endpoint's).
   */
  private static void bounded(long[] before, Map<String, Integer> namesAtPeak) {
    int connections = namesAtPeak.getOrDefault("nbd-conn", 0);
    int workers = namesAtPeak.getOrDefault("nbd-request", 0);
    long others = namesAtPeak.values().stream().mapToInt(Integer::intValue).sum() - connections - workers;
    assertThat(workers).as("request workers at the peak %s", namesAtPeak)
        .isLessThanOrEqualTo(connections * WORKERS_PER_CONNECTION);
    assertThat(others).as("other threads at the peak %s (before the clients came: %d)", namesAtPeak, before[2])
        .isLessThanOrEqualTo(before[2] + 16);
  }

  /** How many threads of process {@code pid} have each name (Linux's {@code comm}: at most 15 bytes). */
  private static Map<String, Integer> threadNames(long pid) throws IOException {
    Map<String, Integer> names = new TreeMap<>();
    try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
      for (Path task : tasks.toList()) {
        try {
          names.merge(Files.readString(task.resolve("comm")).strip(), 1, Integer::sum);
        } catch (IOException ended) {
          // The thread ended between the listing and the read.
        }
      }
    }
    return names;
  }

  private void report(JsonNode fio, String metrics, long[] before, long[] after, List<long[]> samples) {
    long requests = sum(metrics, "vdisk_nbd_requests_total");
    long bytes = sum(metrics, "vdisk_nbd_bytes_total");
    long errors = sum(metrics, "vdisk_nbd_errors_total");
    long fioIos = 0;
    double p99 = 0;
    for (JsonNode job : fio.path("jobs")) {
      fioIos += job.path("write").path("total_ios").asLong() + job.path("read").path("total_ios").asLong();
      p99 = Math.max(p99, job.path("write").path("clat_ns").path("percentile").path("99.000000").asDouble());
    }
    long peak = samples.stream().mapToLong(s -> s[1]).max().orElse(0);
    long threads = samples.stream().mapToLong(s -> s[2]).max().orElse(0);
    System.out.printf("NbdSoakIT: %d s, 64 connections at once; server: %d requests, %d MiB, %d errors; %d qemu-io and"
            + " nbdcopy sessions, %d clients killed; fio: %d I/Os verified (crc32c), write p99 %.2f ms (worst job)%n",
        SECONDS, requests, bytes >> 20, errors, sessions.get(), kills.get(), fioIos, p99 / 1e6);
    System.out.printf("NbdSoakIT: server RSS %d MiB before, peak %d MiB, %d MiB after; threads %d before, peak %d, %d after%n",
        before[1] >> 20, peak >> 20, after[1] >> 20, before[2], threads, after[2]);
    System.out.printf("NbdSoakIT: RSS by quarter (peak MiB): %d %d %d %d%n", peak(samples, 0, 0.25) >> 20,
        peak(samples, 0.25, 0.5) >> 20, peak(samples, 0.5, 0.75) >> 20, peak(samples, 0.75, 1) >> 20);
  }

  /** The sum of every series of a Prometheus counter. */
  private static long sum(String metrics, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + "(?:\\{[^}]*\\})? (\\S+)$").matcher(metrics);
    double total = 0;
    while (m.find()) {
      total += Double.parseDouble(m.group(1));
    }
    return (long) total;
  }

  private static void awaitLog(Path log, String text) throws IOException, InterruptedException {
    for (int i = 0; i < 600; i++) {
      if (Files.exists(log) && Files.readString(log, StandardCharsets.UTF_8).contains(text)) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no '" + text + "' in the log within 30 s:\n" + Files.readString(log, StandardCharsets.UTF_8));
  }

  private static String tail(Path log) throws IOException {
    List<String> lines = Files.readAllLines(log);
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
  }
}
