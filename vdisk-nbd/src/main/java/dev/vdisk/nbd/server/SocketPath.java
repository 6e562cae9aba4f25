package dev.vdisk.nbd.server;

import java.io.IOException;
import java.net.ConnectException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Makes a unix socket path free to bind, as qemu-nbd does for a server that died without removing its socket
 * (SIGKILL, power loss), but without taking the path from a server that still runs there.
 */
public final class SocketPath {
  /** {@code S_IFMT} and {@code S_IFSOCK} of {@code st_mode}. */
  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;

  private SocketPath() {}

  /**
   * Removes a stale socket file at {@code path}: one where a connection is refused, so nothing listens. A
   * connection that is accepted is closed at once, before any negotiation (qemu-nbd, which exits after its last
   * negotiated client, keeps running).
   *
   * @throws IOException if a server listens at {@code path}, or something other than a socket is there
   */
  public static void claim(Path path) throws IOException {
    if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    if ((mode & S_IFMT) != S_IFSOCK) {
      throw new IOException(path + ": already exists and is not a socket (expected: a path for a new socket)");
    }
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
      throw new IOException(path + ": a server is listening on this socket (expected: a path no running server uses)");
    } catch (ConnectException refused) {
      // ECONNREFUSED: the socket outlived its server.
      Files.deleteIfExists(path);
    }
  }
}
