package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code detect-zeroes} against qemu-nbd's: the same writes, sent by qemu-io over NBD, to vdisk serving one
 * copy of an image and to {@code qemu-nbd --detect-zeroes=... --discard=...} serving another, leave the two
 * files with the same content and the same allocation in {@code qemu-img map} (host offsets aside). The
 * writes: zero payloads over data and over a hole, and a data write that must still land.
 */
class DetectZeroesInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> WRITES = List.of(
      "write -P 0 0 1M", // zeroes over data
      "write -P 0 2M 128k", // zeroes over a hole
      "write -P 0x33 3M 64k", // data
      "write -P 0 4M 64k", // zeroes over data, FUA below
      "flush");

  @TempDir Path dir;

  @BeforeEach
  void peers() {
    for (String tool : List.of("qemu-img", "qemu-io", "qemu-nbd")) {
      PeerTools.require(tool);
    }
  }

  /** 8 MiB, data in [0, 1M) and [4M, 5M), the rest a hole. */
  private Path image(String name, String format) throws IOException, InterruptedException {
    Path img = dir.resolve(name);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", format, img.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", format, "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 4M 1M", img.toString());
    return img;
  }

  @ParameterizedTest(name = "{0} detect-zeroes={1} discard={2}")
  @CsvSource({
      "raw, off, unmap", "raw, on, ignore", "raw, on, unmap", "raw, unmap, unmap",
      "qcow2, off, unmap", "qcow2, on, ignore", "qcow2, on, unmap", "qcow2, unmap, unmap"})
  void zeroPayloadsLeaveWhatQemuNbdLeaves(String format, String detect, String discard) throws IOException, InterruptedException {
    Path ours = image("ours." + format, format);
    Path theirs = image("theirs." + format, format);

    StringWriter log = new StringWriter();
    PrintWriter logOut = new PrintWriter(log, true);
    NbdServer server = new NbdServer(List.of(new ExportSpec("d", ours.toString(), format, CacheMode.WRITEBACK, false,
        DiscardMode.parse(discard), "", DetectZeroesFilter.Mode.parse(detect)).open(new EventLog(logOut), logOut)),
        ServerConfig.DEFAULTS, new EventLog(logOut));
    Path sock = dir.resolve("vdisk.sock");
    try {
      server.listen(UnixDomainSocketAddress.of(sock));
      PeerTools.check(dir, qemuIo("nbd+unix:///d?socket=" + sock));
    } finally {
      server.stop(Duration.ofSeconds(10));
    }

    Path qsock = dir.resolve("qemu-nbd.sock");
    Process qemuNbd = new ProcessBuilder("qemu-nbd", "-f", format, "-x", "d", "--discard=" + discard, "--detect-zeroes=" + detect, // in this order, or qemu-nbd refuses unmap
        "-k", qsock.toString(), theirs.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd.log").toFile()).start();
    try {
      for (int i = 0; i < 200 && !Files.exists(qsock); i++) {
        Thread.sleep(50);
      }
      PeerTools.check(dir, qemuIo("nbd+unix:///d?socket=" + qsock));
    } finally {
      qemuNbd.destroy();
      qemuNbd.waitFor(10, TimeUnit.SECONDS);
    }

    // maps first: on ext4, reading a zeroed (unwritten) range caches its pages, and SEEK_DATA then calls it data
    JsonNode ourMap = map(format, ours);
    assertThat(ourMap).as("qemu-img map, vdisk vs qemu-nbd").isEqualTo(map(format, theirs));
    PeerTools.check(dir, "qemu-img", "compare", "-f", format, "-F", format, ours.toString(), theirs.toString());
    PeerTools.check(dir, "qemu-io", "-f", format, "-r", "-c", "read -P 0 0 1M", "-c", "read -P 0x33 3M 64k",
        "-c", "read -P 0 4M 64k", "-c", "read -P 0x22 4160k 960k", ours.toString());
    boolean zeroedDataIsData = dataAt(ourMap, 0);
    if (detect.equals("off")) {
      assertThat(zeroedDataIsData).as("without detection, a zero payload is stored as data").isTrue();
    } else {
      assertThat(zeroedDataIsData).as("with detect-zeroes=" + detect + ", the zeroed range is not data").isFalse();
    }
    assertThat(dataAt(ourMap, 3 << 20)).as("a data write still lands").isTrue();
  }

  private static String[] qemuIo(String uri) {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
    for (String w : WRITES) {
      cmd.add("-c");
      cmd.add(w);
    }
    cmd.add(uri);
    return cmd.toArray(String[]::new);
  }

  /** {@code qemu-img map --output=json} without host offsets (the two servers may place clusters apart). */
  private JsonNode map(String format, Path img) throws IOException, InterruptedException {
    JsonNode map = JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", format, img.toString()));
    map.forEach(e -> ((ObjectNode) e).remove("offset"));
    return map;
  }

  private static boolean dataAt(JsonNode map, long offset) {
    for (JsonNode e : map) {
      long start = e.get("start").asLong();
      if (start <= offset && offset < start + e.get("length").asLong()) {
        return e.get("data").asBoolean();
      }
    }
    throw new AssertionError("offset " + offset + " not in the map: " + map);
  }
}
