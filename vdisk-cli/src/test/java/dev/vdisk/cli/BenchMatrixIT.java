package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vdisk bench --matrix} for real, on tiny images so that the default test run stays short: the quick matrix
 * fills every cell, its HTML report loads in headless Chromium without errors with every chart drawn (a screenshot
 * is kept in target/), the peer cells run through qemu-img bench, Ctrl-C exits 130 leaving no folder, and a loop
 * device is measured only behind its guard.
 */
class BenchMatrixIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path TARGET = Path.of("target").toAbsolutePath();
  private static final List<String> CHROMIUM = List.of("chromium", "--headless", "--no-sandbox", "--disable-gpu",
      "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--hide-scrollbars");

  @TempDir Path dir;

  @Test
  void quickMatrixFillsEveryCellAndItsReportDrawsEveryChart() throws IOException, InterruptedException {
    Path report = TARGET.resolve("matrix-report.html");
    Vdisk.Result r = Vdisk.run("bench", "--matrix", "--quick", "--size", "4M", "--dir", dir.toString(), "--output=json",
        "--report", report.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode doc = JSON.readTree(r.out());
    JsonNode cells = doc.get("cells");
    assertThat(cells).hasSize(7 * 5 * 6);
    for (JsonNode c : cells) {
      String where = c.get("layout").asText() + " " + c.get("mode").asText() + " " + c.get("workload").asText();
      assertThat(c.has("error")).as(where + ": " + c.path("error").asText()).isFalse();
      assertThat(c.get("result").get("samples")).as(where).hasSize(2);
      assertThat(c.get("result").get("median").asDouble()).as(where).isPositive();
      assertThat(c.get("latency-us").get("p99.9").asDouble()).as(where).isPositive();
      JsonNode latency = c.get("latency-us");
      long requests = c.get("requests").asLong();
      int n = latency.get("sampled-1-in").asInt();
      assertThat(Integer.bitCount(n)).as(where + ": sampled 1 in a power of two").isEqualTo(1);
      assertThat(latency.get("timed").asLong()).as(where + ": every one of the first requests, then 1 in up to " + n)
          .isBetween(Math.min(requests, latency.get("all-of-first").asLong()), requests);
      if (n == 1) {
        assertThat(latency.get("timed").asLong()).as(where + ": no sampling, every request timed").isEqualTo(requests);
      }
      assertThat(c.get("requests").asLong()).as(where).isPositive();
    }
    assertThat(doc.get("breakdowns")).hasSize(2 * 7);
    for (JsonNode b : doc.get("breakdowns")) {
      if (b.get("layout").asText().startsWith("qcow2")) {
        assertThat(b.get("breakdown").get("metadata").asLong()).isPositive();
      }
    }
    assertThat(doc.get("discards")).hasSize(7);
    assertThat(doc.get("claims")).hasSize(4).allSatisfy(c -> assertThat(c.get("answer").asText())
        .isIn("supported", "partly", "not supported"));
    assertThat(doc.get("machine").get("filesystem").asText()).isNotEmpty();
    try (Stream<Path> left = Files.list(dir)) {
      assertThat(left).as("the temporary folder is removed").isEmpty();
    }

    assertThat(report).exists();
    String html = Files.readString(report);
    assertThat(html).as("self-contained: no script is fetched").doesNotContain("<script src");
    PeerTools.require("chromium");
    PeerTools.Result dom = chromium(report, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom");
    assertThat(dom.exit()).as(dom.err()).isZero();
    assertThat(dom.err()).as("console messages").doesNotContain(":CONSOLE(").doesNotContain("Uncaught");
    assertThat(attribute(dom.out(), "data-errors")).isEqualTo("[]");
    JsonNode charts = JSON.readTree(attribute(dom.out(), "data-charts"));
    assertThat(charts).hasSize(6);
    for (JsonNode chart : charts) {
      assertThat(chart.get("points").asInt()).as(chart.toString()).isPositive();
      assertThat(chart.get("drawn").asInt()).as("every point drawn: " + chart).isEqualTo(chart.get("points").asInt());
    }
    Path shot = TARGET.resolve("matrix-report.png");
    Files.deleteIfExists(shot);
    PeerTools.Result s = chromium(report, "--window-size=1200,3600", "--screenshot=" + shot);
    assertThat(s.exit()).as(s.err()).isZero();
    assertThat(Files.size(shot)).isGreaterThan(20_000);
  }

  @Test
  void peerCellsRunThroughQemuImgBenchWithARatio() throws IOException, InterruptedException {
    PeerTools.require("qemu-img");
    Vdisk.Result r = Vdisk.run("bench", "--matrix", "--quick", "--size", "8M", "--dir", dir.toString(), "--peer", "qemu",
        "--layouts", "raw-sparse,qcow2-off", "--modes", "writeback,none", "--output=json");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode doc = JSON.readTree(r.out());
    assertThat(doc.get("machine").get("qemu").asText()).startsWith("qemu-img version");
    JsonNode peer = doc.get("peer");
    assertThat(peer).hasSize(2 * 2 * 5);
    for (JsonNode p : peer) {
      assertThat(p.get("aio").asText()).isIn("io_uring", "native", "threads");
      if (p.get("workload").asText().equals("fresh-4k-qd16")) {
        continue; // 64 first writes may finish within qemu-img bench's 1 ms resolution: no ratio then
      }
      assertThat(p.get("qemu").get("samples")).as(p.toString()).hasSize(2);
      assertThat(p.get("ratio").asDouble()).as(p.toString()).isPositive();
    }
    assertThat(doc.get("verdicts").toString()).contains("vdisk against qemu-img bench");
  }

  @Test
  void ctrlCExits130AndRemovesTheFolder() throws IOException, InterruptedException {
    // A process started in the background by a shell without job control ignores SIGINT, and so do its children:
    // the JVM then installs no handler and the run goes on to its end (exit 0), whatever vdisk does.
    assumeTrue(!sigintIgnored(), "SIGINT is ignored in this process tree (a background job of a non-interactive shell)");
    Path jar = TARGET.resolve("vdisk.jar");
    String java = ProcessHandle.current().info().command().orElse("java");
    Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(), "bench", "--matrix",
        "--quick", "--size", "64M", "--dir", dir.toString())
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
        .start();
    List<String> lines = new ArrayList<>();
    try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = err.readLine()) != null) {
        lines.add(line);
        if (line.contains("[3/")) {
          break;
        }
      }
      try (Stream<Path> s = Files.list(dir)) {
        assertThat(s.map(x -> x.getFileName().toString())).as("the run's folder exists while it runs")
            .anySatisfy(n -> assertThat(n).startsWith("vdisk-bench-"));
      }
      new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("ends after SIGINT").isTrue();
    } finally {
      p.destroyForcibly();
    }
    assertThat(p.exitValue()).as(String.join("\n", lines)).isEqualTo(130);
    try (Stream<Path> s = Files.list(dir)) {
      assertThat(s).as("the temporary folder is removed").isEmpty();
    }
  }

  /** Whether this process ignores SIGINT (bit 1 of /proc/self/status's SigIgn mask), as a child it starts will. */
  private static boolean sigintIgnored() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("SigIgn:")) {
        return (Long.parseUnsignedLong(line.substring("SigIgn:".length()).strip(), 16) & 0x2) != 0;
      }
    }
    return false;
  }

  @Test
  void aLoopDeviceIsMeasuredOnlyBehindItsGuard() throws IOException, InterruptedException {
    Path backing = dir.resolve("loop.img");
    Files.write(backing, new byte[0]);
    PeerTools.check(dir, "truncate", "-s", "16M", backing.toString());
    PeerTools.Result attach = PeerTools.run(dir, "losetup", "-f", "--show", backing.toString());
    assumeTrue(attach.exit() == 0, "no loop device on this machine: " + attach.err().strip());
    String loop = attach.out().strip();
    try {
      Vdisk.Result refused = Vdisk.run("bench", "--matrix", "--quick", "--size", "4M", "--dir", dir.toString(), "--device", loop);
      assertThat(refused.exit()).isEqualTo(1);
      assertThat(refused.err()).isEqualTo("vdisk bench: --device " + loop + " destroys the data on it (expected: "
          + "--destroy-data-on " + loop + " to confirm)\n");

      Vdisk.Result r = Vdisk.run("bench", "--matrix", "--quick", "--size", "4M", "--dir", dir.toString(), "--layouts",
          "raw-sparse", "--modes", "writeback,none", "--device", loop, "--destroy-data-on", loop, "--output=json");
      assertThat(r.exit()).as(r.err()).isZero();
      JsonNode doc = JSON.readTree(r.out());
      assertThat(doc.get("machine").get("device").asText()).isEqualTo(Path.of(loop).toRealPath().toString());
      List<JsonNode> device = new ArrayList<>();
      doc.get("cells").forEach(c -> {
        if (c.get("layout").asText().equals("raw-device")) {
          device.add(c);
        }
      });
      assertThat(device).hasSize(2 * 6).allSatisfy(c -> {
        assertThat(c.has("error")).as(c.toString()).isFalse();
        assertThat(c.get("result").get("median").asDouble()).isPositive();
      });
    } finally {
      PeerTools.run(dir, "losetup", "-d", loop);
    }
  }

  private PeerTools.Result chromium(Path page, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(CHROMIUM);
    cmd.add("--user-data-dir=" + Files.createTempDirectory(dir, "chromium-profile"));
    cmd.addAll(List.of(args));
    cmd.add(page.toUri().toString());
    return PeerTools.run(dir, cmd.toArray(String[]::new));
  }

  /** The value of {@code name} on the dumped DOM's body, HTML entities undone. */
  private static String attribute(String dom, String name) {
    Matcher m = Pattern.compile(name + "=\"([^\"]*)\"").matcher(dom);
    assertThat(m.find()).as(name + " in the dumped DOM").isTrue();
    return m.group(1).replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
  }
}
