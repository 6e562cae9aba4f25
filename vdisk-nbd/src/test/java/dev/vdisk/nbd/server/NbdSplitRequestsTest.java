package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.nbd.protocol.Request;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Whole-page writes that a page-cache export's reader writes straight from its read-ahead land whole and in order
 * however the client's bytes are cut: a stream of two 4 KiB writes sent in two pieces, cut at every byte (inside
 * the first header, the first payload, the second header, the second payload), each followed by a read of both
 * pages; the device then holds exactly what the client wrote last.
 */
class NbdSplitRequestsTest {
  private static final int SIZE = 1 << 20;
  private static final int PAGE = 4096;
  private NbdServer server;
  private InetSocketAddress address;

  @BeforeEach
  void start() throws IOException {
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(new MemoryDevice(SIZE)), DiscardMode.UNMAP, true)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    address = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(5));
  }

  private static ByteBuffer pattern(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(n);
    for (int i = 0; i < n; i++) {
      b.put((byte) (seed * 131 + i * 7 + (i >> 8)));
    }
    return b.flip();
  }

  @Test
  @Timeout(120) // a payload read out of step would leave the client waiting for a reply for ever
  void twoWritesCutAtEveryByteLandWhole() throws IOException {
    int stream = 2 * (REQUEST_SIZE + PAGE);
    try (RawClient c = RawClient.connect(address).greet().go("", true)) {
      c.ch.setOption(StandardSocketOptions.TCP_NODELAY, true); // else Nagle holds each second piece for the ACK
      for (int k = 1; k < stream; k++) {
        long a = (long) (k % 128) * 2 * PAGE;
        long b = a + PAGE;
        ByteBuffer first = pattern(PAGE, k);
        ByteBuffer second = pattern(PAGE, -k);
        ByteBuffer bytes = ByteBuffer.allocate(stream);
        TransmissionCodec.encodeRequest(bytes, new Request(0, NBD_CMD_WRITE, 2L * k, a, PAGE));
        bytes.put(first.duplicate());
        TransmissionCodec.encodeRequest(bytes, new Request(0, NBD_CMD_WRITE, 2L * k + 1, b, PAGE));
        bytes.put(second.duplicate());
        c.send(bytes.flip().limit(k));
        c.send(bytes.limit(stream));
        for (int i = 0; i < 2; i++) {
          RawClient.Reply r = c.reply(0);
          assertThat(r.error()).as("cut at byte %d, cookie %d", k, r.cookie()).isZero();
          assertThat(r.cookie() >>> 1).as("cut at byte %d", k).isEqualTo(k);
        }
        c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, k, a, 2 * PAGE, null);
        RawClient.Reply r = c.reply(0);
        assertThat(RawClient.assemble(r, a, 2 * PAGE)).as("cut at byte %d", k)
            .isEqualTo(ByteBuffer.allocate(2 * PAGE).put(first).put(second).flip());
      }
    }
  }
}
