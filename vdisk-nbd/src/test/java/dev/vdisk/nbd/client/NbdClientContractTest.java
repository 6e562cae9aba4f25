package dev.vdisk.nbd.client;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import dev.vdisk.testkit.BlockDeviceContractTest;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

/**
 * The NBD client loop: an {@link NbdClientDevice} talking to vdisk's own server over TCP, which exports a memory
 * device, keeps the whole BlockDevice contract (reads, writes with FUA, zeroes, discards, extents through
 * {@code base:allocation}, transfers larger than the server's 32 MiB split).
 */
class NbdClientContractTest extends BlockDeviceContractTest {
  private NbdServer server;

  @Override
  protected BlockDevice newDevice(long size) throws IOException {
    Export export = new Export("d", "", new CheckedDevice(new MemoryDevice(size)), DiscardMode.UNMAP);
    server = new NbdServer(List.of(export), ServerConfig.DEFAULTS, new EventLog(new PrintWriter(new StringWriter(), true)));
    InetSocketAddress at = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    NbdTarget target = new NbdTarget("127.0.0.1", at.getPort(), null, "d", false, "nbd://127.0.0.1:" + at.getPort() + "/d");
    NbdClientDevice client = NbdClientDevice.open(target, NbdClientOptions.defaults(false));
    // the server stops with the device
    return new FilterDevice(client) {
      @Override
      public void close() throws IOException {
        try {
          super.close();
        } finally {
          server.stop(Duration.ofSeconds(5));
        }
      }
    };
  }
}
