package dev.vdisk.nbd.client;

import dev.vdisk.nbd.wire.ChannelWire;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.List;

/** What an NBD server exports, asked as {@code qemu-nbd --list} asks it. */
public final class NbdExports {
  private NbdExports() {}

  /**
   * Connects to the server of {@code target} (its export name is not used) and lists every export it offers, each
   * with its size, flags, block sizes and meta contexts, within the options' timeout.
   *
   * @throws IOException one line naming the target and why it could not be reached or listed
   */
  public static List<ExportListing> list(NbdTarget target, NbdClientOptions options) throws IOException {
    SocketChannel channel = NbdConnection.connect(target, options);
    try (channel) {
      return NbdConnection.negotiating(channel, target, options, () -> NbdHandshake.list(new ChannelWire(channel), target, options));
    }
  }
}
