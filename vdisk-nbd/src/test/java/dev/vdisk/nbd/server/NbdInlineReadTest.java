package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Small reads of a page-cache export run on the connection's reader, in order; one that waited (here a device that
 * takes 300 ms at and above 1 MiB, as a page-cache miss would) sends the next reads to their own threads, so a fast
 * read no longer waits behind a slow one.
 */
class NbdInlineReadTest {
  private static final long SLOW_FROM = 1 << 20;
  private NbdServer server;
  private InetSocketAddress address;

  @BeforeEach
  void start() throws IOException {
    FilterDevice slow = new FilterDevice(new MemoryDevice(4 << 20)) {
      @Override
      public void read(long offset, ByteBuffer dst) throws IOException {
        if (offset >= SLOW_FROM) {
          try {
            Thread.sleep(300);
          } catch (InterruptedException e) {
            throw new InterruptedIOException();
          }
        }
        next.read(offset, dst);
      }
    };
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(slow), DiscardMode.UNMAP, true)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    address = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(5));
  }

  /** Sends reads of 4 KiB at {@code offsets} (cookie = offset) at once; returns the cookies in reply order. */
  private static List<Long> readAll(RawClient c, long... offsets) throws IOException {
    for (long o : offsets) {
      c.request(0, NBD_CMD_READ, o, o, 4096, null);
    }
    List<Long> order = new ArrayList<>();
    for (int i = 0; i < offsets.length; i++) {
      RawClient.Reply r = c.reply(4096);
      assertThat(r.error()).isZero();
      order.add(r.cookie());
    }
    return order;
  }

  @Test
  void aSlowInlineReadSendsTheNextReadsToTheirOwnThreads() throws IOException {
    try (RawClient c = RawClient.connect(address).greet().go("", false)) {
      // the connection's first read runs on the reader (nothing was slow before it) and is slow
      assertThat(readAll(c, SLOW_FROM)).containsExactly(SLOW_FROM);
      // all on the reader, these would come back in order; on their own threads the fast one overtakes
      assertThat(readAll(c, SLOW_FROM + 4096, 12_288)).containsExactly(12_288L, SLOW_FROM + 4096);
    }
  }
}
