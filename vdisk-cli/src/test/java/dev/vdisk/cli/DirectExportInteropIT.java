package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * An export served with {@code cache=none} (O_DIRECT) answers many concurrent requests with the right bytes, judged by
 * real peers over the socket, under every aio mode: with {@code aio=native} and {@code aio=io_uring} the aligned reads
 * and writes go through the device's asynchronous queue (the server's {@code DirectQueue}), the rest
 * through the connection's workers and the device's read-modify-write. nbdcopy writes random bytes in 4 KiB requests,
 * 64 in flight on each of its connections, and reads them back the same way; qemu-io then sends byte-disjoint writes:
 * 1 MiB ones over what nbdcopy wrote (on qcow2 overwrites of 16 clusters each, one request to the file's queue where
 * they follow each other on the host), and writes of odd lengths at odd offsets (so that their payloads sit at every
 * alignment in the server's read-ahead) mixed with aligned ones, all in flight at once, and reads each back with a
 * pattern check. The export's bytes read over NBD and
 * the image's bytes on disk after the server stopped must both be the bytes written. Under {@code aio=threads} the
 * device has no queue and the workers run every request; a qcow2 export's queue allocates clusters as it writes.
 */
class DirectExportInteropIT {
  private static final int SIZE = 8 << 20;
  /** Where qemu-io's writes go: after nbdcopy's whole-image copy. */
  private static final int MIXED_START = 4 << 20;
  private static final int MIXED_END = 5 << 20;

  @TempDir Path dir;

  @BeforeEach
  void peers() {
    for (String tool : List.of("qemu-img", "qemu-io", "nbdcopy")) {
      PeerTools.require(tool);
    }
  }

  @ParameterizedTest(name = "{0}, aio={1}")
  @CsvSource({"raw,threads", "raw,native", "raw,io_uring", "qcow2,native", "qcow2,io_uring"})
  void concurrentRequestsReadBackWhatWasWritten(String format, String aio) throws Exception {
    byte[] expected = new byte[SIZE];
    new Random(42).nextBytes(expected); // no zero block: nbdcopy writes every one instead of zeroing
    Files.write(dir.resolve("src.raw"), expected);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", format, "img." + format, String.valueOf(SIZE));
    List<String> writes = new ArrayList<>();
    List<String> reads = new ArrayList<>();
    for (int m = 0; m < MIXED_START >> 20; m++) {
      int pattern = 251 + m;
      Arrays.fill(expected, m << 20, (m + 1) << 20, (byte) pattern);
      writes.addAll(List.of("-c", "aio_write -P " + pattern + " " + (m << 20) + " 1M"));
      reads.addAll(List.of("-c", "aio_read -P " + pattern + " " + (m << 20) + " 1M"));
    }
    Random r = new Random(7);
    int at = MIXED_START;
    for (int i = 0; at < MIXED_END; i++) {
      int length;
      if (i % 3 == 0) {
        at = (at + 4095) & -4096;
        length = 4096 * (1 + r.nextInt(4));
      } else {
        length = 1 + r.nextInt(9000);
      }
      length = Math.min(length, MIXED_END - at);
      if (length <= 0) {
        break;
      }
      int pattern = 1 + i % 250;
      Arrays.fill(expected, at, at + length, (byte) pattern);
      writes.addAll(List.of("-c", "aio_write -P " + pattern + " " + at + " " + length));
      reads.addAll(List.of("-c", "aio_read -P " + pattern + " " + at + " " + length));
      at += length;
    }

    StringWriter log = new StringWriter();
    EventLog events = new EventLog(new PrintWriter(log, true));
    Path socket = dir.resolve("vdisk.sock");
    String uri = "nbd+unix:///img?socket=" + socket;
    NbdServer server = new NbdServer(List.of(ExportSpec.parse("name=img,file=" + dir.resolve("img." + format)
        + ",format=" + format + ",cache=none,aio=" + aio).open(events, new PrintWriter(log, true))), ServerConfig.DEFAULTS, events);
    try {
      server.listen(UnixDomainSocketAddress.of(socket));
      PeerTools.check(dir, "nbdcopy", "--request-size=4096", "--requests=64", "--no-extents", "src.raw", uri);
      List<String> mixed = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
      mixed.addAll(writes);
      mixed.addAll(List.of("-c", "aio_flush"));
      mixed.addAll(reads);
      mixed.addAll(List.of("-c", "aio_flush", uri));
      String out = PeerTools.check(dir, mixed.toArray(String[]::new));
      assertThat(out).as("qemu-io's pattern checks").doesNotContain("failed").doesNotContain("error");
      PeerTools.check(dir, "nbdcopy", "--request-size=4096", "--requests=64", "--no-extents", uri, "back.raw");
      assertThat(Arrays.mismatch(Files.readAllBytes(dir.resolve("back.raw")), expected))
          .as("first byte read back over NBD that differs from what was written").isEqualTo(-1);
    } finally {
      server.stop(Duration.ofSeconds(5));
    }
    PeerTools.check(dir, "qemu-img", "convert", "-f", format, "-O", "raw", "img." + format, "disk.raw");
    assertThat(Arrays.mismatch(Files.readAllBytes(dir.resolve("disk.raw")), expected))
        .as("first byte on disk that differs from what was written (server log: " + log + ")").isEqualTo(-1);
  }
}
