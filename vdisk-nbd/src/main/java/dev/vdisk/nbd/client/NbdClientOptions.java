package dev.vdisk.nbd.client;

import java.time.Duration;
import java.util.Objects;

/**
 * How an NBD client device connects and how long it waits.
 *
 * @param timeout the longest wait for the server: to connect and negotiate, and for the reply to any request; a
 *     server that stays silent longer is taken for dead and the device fails every request (never hangs)
 * @param tls the client's credentials, or null; required for a target that asks for TLS
 * @param tlsHostname the name the server's certificate must carry, or null for the target's host (QEMU's
 *     {@code tls-hostname}; a unix socket has no host, so only the chain is checked there without it)
 * @param connections connections opened when the server allows several ({@code NBD_FLAG_CAN_MULTI_CONN}): requests
 *     are spread over them; one where the server does not allow it
 * @param readOnly the device refuses writes even where the export allows them
 */
public record NbdClientOptions(Duration timeout, TlsClientCredentials tls, String tlsHostname, int connections,
    boolean readOnly) {
  /** The default wait: long enough for a 32 MiB request to a slow disk, short enough that a dead server is noticed. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

  /** Checks a positive timeout and at least one connection. */
  public NbdClientOptions {
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout: " + timeout + " (expected: > 0)");
    }
    if (connections < 1 || connections > 16) {
      throw new IllegalArgumentException("connections: " + connections + " (expected: 1 to 16)");
    }
  }

  /** One connection, {@link #DEFAULT_TIMEOUT}, no TLS. */
  public static NbdClientOptions defaults(boolean readOnly) {
    return new NbdClientOptions(DEFAULT_TIMEOUT, null, null, 1, readOnly);
  }

  /** These options with {@code tls} credentials and {@code hostname} (or null) to check. */
  public NbdClientOptions withTls(TlsClientCredentials tls, String hostname) {
    return new NbdClientOptions(timeout, tls, hostname, connections, readOnly);
  }

  /** These options with {@code n} connections where the server allows them. */
  public NbdClientOptions withConnections(int n) {
    return new NbdClientOptions(timeout, tls, tlsHostname, n, readOnly);
  }

  /** These options with another timeout. */
  public NbdClientOptions withTimeout(Duration t) {
    return new NbdClientOptions(t, tls, tlsHostname, connections, readOnly);
  }
}
