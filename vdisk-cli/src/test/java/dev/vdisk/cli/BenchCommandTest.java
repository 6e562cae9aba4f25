package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BenchCommandTest {
  @TempDir Path dir;
  private String img;

  @BeforeEach
  void image() throws IOException {
    Path p = dir.resolve("b.img");
    Files.write(p, new byte[1 << 20]);
    img = p.toString();
  }

  @Test
  void printsQemuImgBenchsLines() {
    Vdisk.Result r = Vdisk.run("bench", "-f", "raw", "-c", "200", "-d", "4", img);
    assertThat(r.exit()).isZero();
    String[] lines = r.out().split("\n");
    assertThat(lines).hasSize(2);
    assertThat(lines[0]).isEqualTo(
        "Sending 200 read requests, 4096 bytes each, 4 in parallel (starting at offset 0, step size 4096)");
    assertThat(lines[1]).matches("Run completed in \\d+\\.\\d{3} seconds\\.");
    assertThat(r.err()).isEmpty();
  }

  @Test
  void writesWithFlushesPrintTheFlushLineAndThePattern() throws IOException {
    Vdisk.Result r = Vdisk.run("bench", "-f", "raw", "-w", "-c", "40", "-d", "4", "--flush-interval=10",
        "--pattern=171", "-s", "1k", "-S", "2k", "-o", "512", img);
    assertThat(r.exit()).isZero();
    String[] lines = r.out().split("\n");
    assertThat(lines[0]).isEqualTo(
        "Sending 40 write requests, 1024 bytes each, 4 in parallel (starting at offset 512, step size 2048)");
    assertThat(lines[1]).isEqualTo("Sending flush every 10 requests");
    byte[] data = Files.readAllBytes(Path.of(img));
    assertThat(data[511]).isZero();
    assertThat(data[512]).isEqualTo((byte) 171);
    assertThat(data[512 + 1023]).isEqualTo((byte) 171);
    assertThat(data[512 + 1024]).isZero();
    assertThat(data[512 + 2048]).isEqualTo((byte) 171);
  }

  @Test
  void quietPrintsNothing() {
    Vdisk.Result r = Vdisk.run("bench", "-q", "-c", "10", img);
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEmpty();
  }

  @Test
  void jsonReportsTheRunForScripts() throws IOException {
    Vdisk.Result r = Vdisk.run("bench", "--output=json", "-c", "100", "-d", "2", "-t", "writethrough", img);
    assertThat(r.exit()).isZero();
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertThat(j.get("count").asInt()).isEqualTo(100);
    assertThat(j.get("depth").asInt()).isEqualTo(2);
    assertThat(j.get("size").asInt()).isEqualTo(4096);
    assertThat(j.get("step").asInt()).isEqualTo(4096);
    assertThat(j.get("write").asBoolean()).isFalse();
    assertThat(j.get("cache").asText()).isEqualTo("writethrough");
    assertThat(j.get("seconds").isNumber()).isTrue();
    assertThat(j.get("iops").isNumber()).isTrue();
    assertThat(j.get("bytes-per-second").isNumber()).isTrue();
    JsonNode lat = j.get("latency-us");
    for (String k : new String[] {"min", "mean", "p50", "p90", "p99", "p99.9", "max"}) {
      assertThat(lat.get(k).isNumber()).as(k).isTrue();
    }
    assertThat(lat.get("min").asDouble()).isLessThanOrEqualTo(lat.get("max").asDouble());
  }

  /** qemu-img bench's -n: native AIO, which needs a direct cache mode as -i native does. */
  @Test
  void dashNIsNativeAio() throws IOException {
    Vdisk.Result r = Vdisk.run("bench", "--output=json", "-n", "-t", "none", "-c", "50", img);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(new ObjectMapper().readTree(r.out()).get("aio").asText()).isEqualTo("native");
    Vdisk.Result cached = Vdisk.run("bench", "-n", "-c", "50", img);
    assertThat(cached.exit()).isEqualTo(Vdisk.run("bench", "-i", "native", "-c", "50", img).exit()).isEqualTo(1);
  }

  @Test
  void stepZeroMeansTheRequestSize() {
    Vdisk.Result r = Vdisk.run("bench", "-c", "1", "-s", "512", "-S", "0", img);
    assertThat(r.out()).startsWith("Sending 1 read requests, 512 bytes each, 64 in parallel (starting at offset 0, step size 512)");
  }

  /** What qemu-img bench refuses, vdisk refuses too: exit 1, one line, the image unchanged. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "-c -1|-c: '-1' (expected: an integer from 0 to 2147483647)",
      "-d 0|-d: '0' (expected: an integer from 1 to 2147483647)",
      "-s 2G|-s: '2G' (expected: at most 2147483647 bytes)",
      "-o 1x|-o: '1x' (expected: bytes like 4096, or with a suffix b, k, M, G, T, P, E like 64k or 1.5G)",
      "--pattern=300|--pattern: '300' (expected: an integer from 0 to 255)",
      "--flush-interval=100|flush interval: 100 in a read test (expected: write tests only)",
      "-w --flush-interval=10|flush interval: 10 is smaller than the queue depth 64 (expected: >= 64)",
      "-i bogus|-i: 'bogus' (expected: threads, native or io_uring)",
      "-i native|aio=native was specified, but it requires cache.direct=on, which was not specified.",
      "-t bogus|cache mode: 'bogus' (expected: writeback, writethrough, none, off, directsync, unsafe)",
      "-w -U|force-share (-U): requires a read-only open (expected: read-only)"})
  void refusesBadArguments(String args, String message) throws IOException {
    byte[] before = Files.readAllBytes(Path.of(img));
    String[] split = args.split(" ");
    String[] all = new String[split.length + 2];
    all[0] = "bench";
    System.arraycopy(split, 0, all, 1, split.length);
    all[all.length - 1] = img;
    Vdisk.Result r = Vdisk.run(all);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk bench: " + message);
    assertThat(r.out()).isEmpty();
    assertThat(Files.readAllBytes(Path.of(img))).isEqualTo(before);
  }

  @Test
  void aRequestPastTheEndFailsTheRunInOneLine() {
    Vdisk.Result r = Vdisk.run("bench", "-c", "300", "-d", "1", "-S", "5000", "-q", img);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(
        "vdisk bench: read: offset 1045000 length 4096 ends beyond the device (expected: end <= size 1048576)");
  }

  @Test
  void matrixRefusesAnImageAndQemuImgBenchOptions() {
    Vdisk.Result r = Vdisk.run("bench", "--matrix", "-w", img);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("vdisk bench: --matrix: takes no image and none of -c -d -w -s -S -o --pattern "
        + "--flush-interval (expected: --matrix with its own options, see 'vdisk bench --help')\n");
  }

  @Test
  void matrixRefusesAnUnknownLayoutAndAPlainBenchWithoutImage() {
    Vdisk.Result r = Vdisk.run("bench", "--matrix", "--layouts", "raw-sparse,vmdk", "--dir", dir.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("vdisk bench: layout: 'vmdk' (expected: one of raw-sparse, raw-falloc, raw-full, "
        + "qcow2-off, qcow2-metadata, qcow2-falloc, qcow2-full)\n");
    Vdisk.Result none = Vdisk.run("bench");
    assertThat(none.exit()).isEqualTo(1);
    assertThat(none.err()).isEqualTo("vdisk bench: missing the image (expected: vdisk bench [options] FILE, or vdisk bench --matrix)\n");
  }

  @Test
  void matrixWritesToADeviceOnlyWhenItIsNamedTwiceAndIsABlockDevice() {
    Vdisk.Result unconfirmed = Vdisk.run("bench", "--matrix", "--device", img, "--dir", dir.toString());
    assertThat(unconfirmed.exit()).isEqualTo(1);
    assertThat(unconfirmed.err()).isEqualTo("vdisk bench: --device " + img + " destroys the data on it (expected: "
        + "--destroy-data-on " + img + " to confirm)\n");
    Vdisk.Result file = Vdisk.run("bench", "--matrix", "--device", img, "--destroy-data-on", img, "--dir", dir.toString());
    assertThat(file.exit()).isEqualTo(1);
    assertThat(file.err()).isEqualTo("vdisk bench: --device: " + img + " is not a block device (expected: a block "
        + "device; for a file use --dir)\n");
    try (var left = java.nio.file.Files.list(dir)) {
      assertThat(left).as("nothing made before the checks").containsExactly(java.nio.file.Path.of(img));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
