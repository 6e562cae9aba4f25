package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.nbd.metrics.PrometheusMetrics;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Requests show up in the Prometheus endpoint, per export and command, errors by name. */
class PrometheusMetricsTest {
  @Test
  void countsBytesErrorsAndLatency() throws Exception {
    try (PrometheusMetrics metrics = PrometheusMetrics.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
      NbdServer server = new NbdServer(List.of(new Export("m", "", new CheckedDevice(new MemoryDevice(1 << 20)), DiscardMode.UNMAP)),
          ServerConfig.DEFAULTS, EventLog.discarding(), metrics);
      try {
        var address = server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        try (RawClient c = RawClient.connect(address).greet().go("m", true)) {
          c.request(0, NBD_CMD_WRITE, 1, 0, 8192, ByteBuffer.allocate(8192));
          c.reply(0);
          c.request(0, NBD_CMD_READ, 2, 0, 4096, null);
          c.reply(0);
          c.request(0, NBD_CMD_READ, 3, 1 << 20, 4096, null);
          assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
        }
      } finally {
        server.stop(Duration.ofSeconds(5));
      }
      String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metrics.port() + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      assertThat(text)
          .contains("vdisk_nbd_requests_total{command=\"write\",export=\"m\"} 1.0")
          .contains("vdisk_nbd_requests_total{command=\"read\",export=\"m\"} 2.0")
          .contains("vdisk_nbd_bytes_total{command=\"write\",export=\"m\"} 8192.0")
          .contains("vdisk_nbd_bytes_total{command=\"read\",export=\"m\"} 4096.0")
          .contains("vdisk_nbd_errors_total{command=\"read\",error=\"EINVAL\",export=\"m\"} 1.0")
          .contains("vdisk_nbd_request_duration_seconds_count{command=\"read\",export=\"m\"} 2");
    }
  }
}
