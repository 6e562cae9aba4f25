package dev.vdisk.nbd.metrics;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.nbd.protocol.NbdProtocol;
import dev.vdisk.nbd.server.RequestMetrics;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * Per-export request metrics in Prometheus' text format, served over HTTP at {@code /metrics}:
 * {@code vdisk_nbd_requests_total}, {@code vdisk_nbd_bytes_total}, {@code vdisk_nbd_errors_total} (by
 * error) and the latency histogram {@code vdisk_nbd_request_duration_seconds}, all labelled with
 * {@code export} and {@code command}.
 */
public final class PrometheusMetrics implements RequestMetrics, Closeable {
  private final Counter requests;
  private final Counter bytes;
  private final Counter errors;
  private final Histogram latency;
  private final HTTPServer http;

  private PrometheusMetrics(PrometheusRegistry registry, HTTPServer http) {
    this.http = http;
    requests = Counter.builder().name("vdisk_nbd_requests_total").help("NBD requests executed")
        .labelNames("export", "command").register(registry);
    bytes = Counter.builder().name("vdisk_nbd_bytes_total").help("Bytes read, written, zeroed, trimmed or queried")
        .labelNames("export", "command").register(registry);
    errors = Counter.builder().name("vdisk_nbd_errors_total").help("NBD requests answered with an error")
        .labelNames("export", "command", "error").register(registry);
    latency = Histogram.builder().name("vdisk_nbd_request_duration_seconds").help("Time from execution start to reply written")
        .labelNames("export", "command").classicOnly().classicExponentialUpperBounds(10e-6, 2, 20).register(registry);
  }

  /** Serves the metrics on {@code address} (port 0 picks a free port, see {@link #port()}). */
  public static PrometheusMetrics start(InetSocketAddress address) throws IOException {
    PrometheusRegistry registry = new PrometheusRegistry();
    HTTPServer http = HTTPServer.builder().inetAddress(address.getAddress()).port(address.getPort()).registry(registry).buildAndStart();
    return new PrometheusMetrics(registry, http);
  }

  /** The HTTP port. */
  public int port() {
    return http.getPort();
  }

  @Override
  public void record(String export, int command, long bytes, long nanos, int error) {
    String c = commandName(command);
    requests.labelValues(export, c).inc();
    latency.labelValues(export, c).observe(nanos / 1e9);
    if (error != 0) {
      errors.labelValues(export, c, errorName(error)).inc();
    } else if (bytes > 0) {
      this.bytes.labelValues(export, c).inc(bytes);
    }
  }

  @Override
  public void close() {
    http.close();
  }

  private static String commandName(int command) {
    return switch (command) {
      case NBD_CMD_READ -> "read";
      case NBD_CMD_WRITE -> "write";
      case NBD_CMD_FLUSH -> "flush";
      case NBD_CMD_TRIM -> "trim";
      case NBD_CMD_CACHE -> "cache";
      case NBD_CMD_WRITE_ZEROES -> "write_zeroes";
      case NBD_CMD_BLOCK_STATUS -> "block_status";
      default -> "other";
    };
  }

  private static String errorName(int error) {
    return NbdProtocol.errorName(error).orElse(Integer.toString(error));
  }
}
