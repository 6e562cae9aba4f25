package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vdisk info --breakdown} against QEMU's own accounting of images QEMU made: data and preallocated zeroes
 * as {@code qemu-img map} lists them, data plus zeroes as {@code qemu-img check}'s allocated clusters, and the
 * parts adding up to the file.
 */
class InfoBreakdownIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  @ParameterizedTest
  @CsvSource({"off", "metadata", "falloc"})
  void qcow2PartsMatchQemuImgMapAndCheck(String prealloc) throws IOException, InterruptedException {
    Path img = dir.resolve("b.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=" + prealloc, img.toString(), "64M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 1 0 3M", "-c", "write -z 10M 1M", "-c", "write 50M 64k",
        "-c", "discard 1M 1M", img.toString());
    Vdisk.Result r = Vdisk.run("info", "--breakdown", "--output=json", img.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode b = JSON.readTree(r.out());

    long data = 0;
    long zero = 0;
    for (JsonNode e : JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", img.toString()))) {
      if (e.get("data").asBoolean()) {
        data += e.get("length").asLong();
      } else if (e.get("zero").asBoolean() && e.has("offset")) {
        zero += e.get("length").asLong();
      }
    }
    JsonNode check = JSON.readTree(PeerTools.check(dir, "qemu-img", "check", "--output=json", img.toString()));
    long cluster = b.get("cluster-size").asLong();
    assertThat(b.get("data").asLong()).isEqualTo(data);
    assertThat(b.get("data").asLong() + b.get("zero").asLong())
        .isEqualTo(check.get("allocated-clusters").asLong() * cluster);
    assertThat(b.get("zero").asLong()).isEqualTo(zero);
    assertThat(b.get("metadata").asLong()).isPositive();
    long fileSize = Files.size(img);
    assertThat(b.get("file-size").asLong()).isEqualTo(fileSize);
    assertThat(b.get("metadata").asLong() + b.get("data").asLong() + b.get("zero").asLong() + b.get("unused").asLong())
        .isEqualTo(Math.ceilDiv(fileSize, cluster) * cluster);
    assertThat(b.get("unallocated").asLong()).isEqualTo(64L * 1024 * 1024 - data - zero);

    Vdisk.Result human = Vdisk.run("info", "--breakdown", img.toString());
    assertThat(human.out()).contains("file format: qcow2\n", "metadata: ", "data: ", "(" + b.get("data").asLong() + " bytes)");
  }

  @ParameterizedTest
  @CsvSource({"off", "full"})
  void rawDataIsWhatTheFileStores(String prealloc) throws IOException, InterruptedException {
    Path img = dir.resolve("b.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "-o", "preallocation=" + prealloc, img.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 1 1M 1M", img.toString());
    JsonNode b = JSON.readTree(Vdisk.run("info", "--breakdown", "--output=json", "-f", "raw", img.toString()).out());
    long data = 0;
    for (JsonNode e : JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "-f", "raw", "--output=json", img.toString()))) {
      if (e.get("data").asBoolean()) {
        data += e.get("length").asLong();
      }
    }
    assertThat(b.get("data").asLong()).isEqualTo(data);
    assertThat(b.get("metadata").asLong()).isZero();
    assertThat(b.get("unallocated").asLong()).isEqualTo(8L * 1024 * 1024 - data);
  }
}
