package dev.vdisk.io.linux;

import java.io.IOException;
import java.nio.channels.Channel;
import java.nio.channels.ServerSocketChannel;

/**
 * A listening socket passed by socket activation (systemd's {@code sd_listen_fds} protocol, as qemu-nbd takes it):
 * {@code LISTEN_PID} is this process and {@code LISTEN_FDS} is 1, so the socket is fd 3. The JDK adopts an inherited
 * socket only on fd 0 ({@link System#inheritedChannel()}), so fd 3 is copied there first.
 */
public final class InheritedSocket {
  private static final int SD_LISTEN_FDS_START = 3;

  private InheritedSocket() {}

  /**
   * The activated listening socket, or null when this process was not socket-activated.
   *
   * @throws IOException if activation passed more than one socket, or fd 3 is not a listening stream socket
   */
  public static ServerSocketChannel activated() throws IOException {
    String pid = System.getenv("LISTEN_PID");
    String fds = System.getenv("LISTEN_FDS");
    if (pid == null || fds == null || !pid.equals(Long.toString(ProcessHandle.current().pid()))) {
      return null;
    }
    if (!fds.equals("1")) {
      throw new IOException("LISTEN_FDS=" + fds + ": socket activation with more than one socket is not supported (expected: 1)");
    }
    LinuxNative.dup2(SD_LISTEN_FDS_START, 0);
    Channel ch = System.inheritedChannel();
    if (!(ch instanceof ServerSocketChannel server)) {
      throw new IOException("LISTEN_FDS=1: fd 3 is not a listening socket (expected: a stream socket from socket activation)");
    }
    return server;
  }
}
