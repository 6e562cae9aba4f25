package dev.vdisk.nbd.server;

import java.time.Duration;

/**
 * Limits and policies of a server.
 *
 * @param maxPayload largest READ/WRITE/CACHE length accepted, advertised as the maximum block size
 * @param inflightBytesPerConnection payload bytes (write data received, read data being prepared) one
 *     connection may hold at once; the connection stops reading requests while it is at the limit
 * @param inflightBytesTotal payload bytes all connections together may hold at once: a connection waiting for
 *     its share stops reading requests (TCP back-pressure), so the server's payload memory stays bounded however
 *     many clients flood it
 * @param inflightRequestsPerConnection requests one connection may have executing at once
 * @param handshakeTimeout a client that has not finished negotiating by then is disconnected
 * @param allow which TCP peers may connect
 * @param tls whether TLS is off, offered or required
 * @param credentials the server's certificate and key; null exactly when {@code tls} is OFF
 * @param maxClients how many clients may be connected at once (qemu-nbd's {@code --shared}); 0 for no limit.
 *     With 1, exports do not advertise {@code NBD_FLAG_CAN_MULTI_CONN} (a second connection would wait), as qemu-nbd
 */
public record ServerConfig(int maxPayload, long inflightBytesPerConnection, long inflightBytesTotal, int inflightRequestsPerConnection,
    Duration handshakeTimeout, AllowList allow, TlsMode tls, TlsCredentials credentials, int maxClients) {

  /**
   * 32 MiB payloads, 64 MiB and 256 requests in flight per connection, 256 MiB in flight in all, 10 s to negotiate,
   * anyone may connect, no TLS, any number of clients.
   */
  public static final ServerConfig DEFAULTS =
      new ServerConfig(32 << 20, 64L << 20, 256L << 20, 256, Duration.ofSeconds(10), AllowList.ANYONE, TlsMode.OFF, null, 0);

  public ServerConfig {
    if (maxPayload < 4096) {
      throw new IllegalArgumentException("max payload: " + maxPayload + " (expected: at least 4096)");
    }
    if (inflightBytesPerConnection < maxPayload) {
      throw new IllegalArgumentException("in-flight bytes: " + inflightBytesPerConnection + " (expected: at least the max payload " + maxPayload + ")");
    }
    if (inflightBytesTotal < maxPayload) {
      throw new IllegalArgumentException("in-flight bytes in all: " + inflightBytesTotal + " (expected: at least the max payload " + maxPayload + ")");
    }
    if ((tls == TlsMode.OFF) != (credentials == null)) {
      throw new IllegalArgumentException("TLS " + tls + " with" + (credentials == null ? "out" : "") + " credentials (expected: credentials exactly when TLS is on)");
    }
    if (maxClients < 0) {
      throw new IllegalArgumentException("max clients: " + maxClients + " (expected: 0 for no limit, or more)");
    }
    if (inflightRequestsPerConnection < 1) {
      throw new IllegalArgumentException("in-flight requests: " + inflightRequestsPerConnection + " (expected: at least 1)");
    }
  }

  /** These limits of payload bytes in flight, per connection and in all. */
  public ServerConfig withInflightBytes(long perConnection, long total) {
    return new ServerConfig(maxPayload, perConnection, total, inflightRequestsPerConnection, handshakeTimeout, allow, tls, credentials, maxClients);
  }

  public ServerConfig withAllow(AllowList a) {
    return new ServerConfig(maxPayload, inflightBytesPerConnection, inflightBytesTotal, inflightRequestsPerConnection, handshakeTimeout, a, tls, credentials, maxClients);
  }

  public ServerConfig withMaxPayload(int max) {
    return new ServerConfig(max, Math.max(inflightBytesPerConnection, max), Math.max(inflightBytesTotal, max), inflightRequestsPerConnection, handshakeTimeout, allow, tls,
        credentials, maxClients);
  }

  public ServerConfig withHandshakeTimeout(Duration d) {
    return new ServerConfig(maxPayload, inflightBytesPerConnection, inflightBytesTotal, inflightRequestsPerConnection, d, allow, tls, credentials, maxClients);
  }

  public ServerConfig withTls(TlsMode mode, TlsCredentials creds) {
    return new ServerConfig(maxPayload, inflightBytesPerConnection, inflightBytesTotal, inflightRequestsPerConnection, handshakeTimeout, allow, mode, creds, maxClients);
  }

  public ServerConfig withMaxClients(int n) {
    return new ServerConfig(maxPayload, inflightBytesPerConnection, inflightBytesTotal, inflightRequestsPerConnection, handshakeTimeout, allow, tls,
        credentials, n);
  }
}
