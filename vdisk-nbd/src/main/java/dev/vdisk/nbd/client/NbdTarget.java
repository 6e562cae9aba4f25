package dev.vdisk.nbd.client;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.Objects;

/**
 * Where an NBD export is and how to reach it: a TCP host and port or a unix socket, the export's name, and whether
 * the connection must be upgraded to TLS ({@code NBD_OPT_STARTTLS}) before the export is asked for.
 *
 * @param host the TCP host (a name or an address), or null for a unix socket
 * @param port the TCP port (10809 by default), or 0 for a unix socket
 * @param socket the unix socket's path, or null for TCP
 * @param export the export's name ("" is the server's default export)
 * @param tls whether to speak TLS
 * @param name what the user called the image: every message about it starts with this
 */
public record NbdTarget(String host, int port, String socket, String export, boolean tls, String name) {
  /** NBD's registered TCP port. */
  public static final int DEFAULT_PORT = 10809;

  /** Checks that exactly one of a TCP host or a unix socket is given. */
  public NbdTarget {
    Objects.requireNonNull(export, "export");
    Objects.requireNonNull(name, "name");
    if ((host == null) == (socket == null)) {
      throw new IllegalArgumentException(name + ": NBD server address (expected: a host or a unix socket, one of them)");
    }
    if (host != null && (port < 1 || port > 65535)) {
      throw new IllegalArgumentException(name + ": port " + port + " (expected: 1 to 65535)");
    }
  }

  /** The address as messages show it, as QEMU's do: {@code host:port} or the socket's path. */
  public String address() {
    return socket != null ? socket : (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }

  /** The unix socket's address; only for a target with {@link #socket}. */
  SocketAddress unixAddress() {
    return UnixDomainSocketAddress.of(socket);
  }

  /** An unresolved TCP address; only for a target with {@link #host}. */
  InetSocketAddress tcpAddress() {
    return InetSocketAddress.createUnresolved(host, port);
  }
}
