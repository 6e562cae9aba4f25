package dev.vdisk.io.internal;

import dev.vdisk.io.linux.InheritedSocket;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;

/**
 * A listening socket passed by socket activation (systemd's {@code sd_listen_fds} protocol, as qemu-nbd takes it):
 * {@code LISTEN_PID} names this process and {@code LISTEN_FDS} is 1, so the socket is file descriptor 3.
 */
public final class SocketActivation {
  private SocketActivation() {}

  /**
   * The activated listening socket, or null when this process was not socket-activated. Call it once: it moves the
   * socket to file descriptor 0, where the JDK adopts it ({@link System#inheritedChannel()}).
   *
   * @throws IOException if activation passed more than one socket, or descriptor 3 is not a listening stream socket
   */
  public static ServerSocketChannel listeningSocket() throws IOException {
    return InheritedSocket.activated();
  }
}
