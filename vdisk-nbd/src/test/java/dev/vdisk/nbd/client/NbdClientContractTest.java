package dev.vdisk.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.nbd.protocol.NbdProtocol;
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
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The NBD client loop: an {@link NbdClientDevice} talking to vdisk's own server over TCP, which exports a memory
 * device, keeps the whole BlockDevice contract (reads, writes with FUA, zeroes, discards, extents through
 * {@code base:allocation}, transfers larger than the server's 32 MiB split).
 */
class NbdClientContractTest extends BlockDeviceContractTest {
  private NbdServer server;
  private NbdTarget target;

  @Override
  protected BlockDevice newDevice(long size) throws IOException {
    Export export = new Export("d", "", new CheckedDevice(new MemoryDevice(size)), DiscardMode.UNMAP);
    server = new NbdServer(List.of(export), ServerConfig.DEFAULTS, new EventLog(new PrintWriter(new StringWriter(), true)));
    InetSocketAddress at = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    target = new NbdTarget("127.0.0.1", at.getPort(), null, "d", false, "nbd://127.0.0.1:" + at.getPort() + "/d");
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

  /** Where the server sets CAN_MULTI_CONN, requests go round several connections and one flush covers them all. */
  @Test
  void spreadsRequestsOverSeveralConnections() throws IOException {
    try (NbdClientDevice four = NbdClientDevice.open(target, NbdClientOptions.defaults(false).withConnections(4))) {
      assertThat(four.connectionCount()).isEqualTo(4);
      assertThat(four.transmissionFlags() & NbdProtocol.NBD_FLAG_CAN_MULTI_CONN).isNotZero();
      for (int i = 0; i < 8; i++) {
        byte[] block = new byte[4096];
        Arrays.fill(block, (byte) (i + 1));
        four.write(i * 4096L, ByteBuffer.wrap(block), Set.of());
      }
      four.flush();
    }
    for (int i = 0; i < 8; i++) {
      assertThat(read(i * 4096L, 4096)).as("block " + i + " through another client").containsOnly(i + 1);
    }
  }
}
