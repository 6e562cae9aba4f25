package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Which thread runs a request (Transmission's class comment): the connection's reader runs whole-page writes without
 * FUA on a page-cache export, 1 MiB ones included; every other request that is not a small read runs on one of the
 * connection's platform workers, never on a virtual thread (which would turn the socket non-blocking for good).
 */
class NbdRequestThreadsTest {
  private static final int MIB = 1 << 20;
  /** The thread that ran each device call, by call and offset: "read@0", "write@1048576". */
  private final Map<String, Thread> ranOn = new ConcurrentHashMap<>();
  private NbdServer server;

  private InetSocketAddress start(boolean pageCache) throws IOException {
    FilterDevice recording = new ThreadRecordingDevice(new MemoryDevice(8 * MIB), ranOn);
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(recording), DiscardMode.UNMAP, pageCache)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    return (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(Duration.ofSeconds(5));
    }
  }

  private static void write(RawClient c, int flags, long offset, int length) throws IOException {
    c.request(flags, NBD_CMD_WRITE, offset, offset, length, ByteBuffer.allocate(length));
    assertThat(c.reply(0).error()).isZero();
  }

  private static void read(RawClient c, long offset, int length) throws IOException {
    c.request(0, NBD_CMD_READ, offset, offset, length, null);
    assertThat(c.reply(length).error()).isZero();
  }

  @Test
  void largeWholePageWritesWithoutFuaRunOnTheReaderOfAPageCacheExport() throws IOException {
    try (RawClient c = RawClient.connect(start(true)).greet().go("", false)) {
      write(c, 0, 0, MIB);
      write(c, NBD_CMD_FLAG_FUA, 2 * MIB, MIB);
      write(c, 0, 4 * MIB + 512, MIB); // not page-aligned: a partial page to read first
    }
    assertThat(ranOn.get("write@0").getName()).isEqualTo("nbd-conn");
    assertThat(ranOn.get("write@" + 2 * MIB).getName()).isEqualTo("nbd-request");
    assertThat(ranOn.get("write@" + (4 * MIB + 512)).getName()).isEqualTo("nbd-request");
  }

  @Test
  void requestsOffTheReaderRunOnPlatformWorkers() throws IOException {
    try (RawClient c = RawClient.connect(start(false)).greet().go("", false)) {
      read(c, 0, MIB);
      write(c, 0, 2 * MIB, MIB);
    }
    for (String call : List.of("read@0", "write@" + 2 * MIB)) {
      Thread t = ranOn.get(call);
      assertThat(t.isVirtual()).as(call).isFalse();
      assertThat(t.getName()).as(call).isEqualTo("nbd-request");
    }
  }
}
