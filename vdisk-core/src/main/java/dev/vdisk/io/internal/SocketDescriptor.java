package dev.vdisk.io.internal;

import dev.vdisk.io.linux.SocketFd;
import java.nio.channels.SocketChannel;

/**
 * The file descriptor of a connected socket, for a {@link dev.vdisk.block.RequestQueue#awaitReadable} on it: the NBD
 * server waits for a client's next request and for the disk in one place.
 */
public final class SocketDescriptor {
  private SocketDescriptor() {}

  /**
   * The descriptor of {@code channel}, or -1 where the JDK does not give it (the JVM started without {@code
   * --add-exports java.base/sun.nio.ch=ALL-UNNAMED}). Valid while the channel is open.
   */
  public static int of(SocketChannel channel) {
    return SocketFd.of(channel);
  }
}
