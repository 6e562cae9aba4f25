package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Replies that the reader batches ({@link ReplySender}) and replies that workers write at once share one stream: a
 * client that sends a burst mixing requests the reader runs (whole-page writes), requests it refuses with a structured
 * error chunk of its own length, and requests that go to workers (FUA, partial pages) gets every reply exactly once,
 * whole, with its own cookie, error and data.
 */
class NbdReplyBatchTest {
  private static final int SIZE = 1 << 20;
  private static final int STRIDE = 8192;
  private static final int ROUNDS = SIZE / STRIDE;
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
      b.put((byte) (seed * 31 + i * 7));
    }
    return b.flip();
  }

  /** Cookies: 3i a whole-page write (reader), 3i+1 a READ past the end (refused), 3i+2 every 4th round a FUA partial write. */
  @Test
  @Timeout(60) // a lost reply would leave the client waiting for ever: the interrupt closes its channel
  void aBurstOfMixedRequestsGetsEveryReplyOnceAndWhole() throws IOException {
    try (RawClient c = RawClient.connect(address).greet().go("", true)) {
      int expected = 0;
      for (int i = 0; i < ROUNDS; i++) {
        c.request(0, NBD_CMD_WRITE, 3L * i, (long) i * STRIDE, 4096, pattern(4096, i));
        c.request(0, NBD_CMD_READ, 3L * i + 1, SIZE + (long) i * 4096, 4096, null);
        expected += 2;
        if (i % 4 == 0) {
          c.request(NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 3L * i + 2, (long) i * STRIDE + 4096 + 512, 1024, pattern(1024, -i));
          expected++;
        }
      }
      Map<Long, Integer> errors = new HashMap<>();
      for (int n = 0; n < expected; n++) {
        RawClient.Reply r = c.reply(0);
        assertThat(errors.put(r.cookie(), r.error())).as("cookie %d answered twice", r.cookie()).isNull();
      }
      assertThat(errors).hasSize(expected);
      errors.forEach((cookie, error) -> assertThat(error).as("cookie %d", cookie).isEqualTo(cookie % 3 == 1 ? NBD_EINVAL : 0));

      for (int i = 0; i < ROUNDS; i++) {
        c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, i, (long) i * STRIDE, STRIDE, null);
      }
      Map<Long, ByteBuffer> data = new HashMap<>();
      for (int i = 0; i < ROUNDS; i++) {
        RawClient.Reply r = c.reply(0);
        assertThat(r.error()).as("read %d", r.cookie()).isZero();
        data.put(r.cookie(), RawClient.assemble(r, r.cookie() * STRIDE, STRIDE));
      }
      for (int i = 0; i < ROUNDS; i++) {
        ByteBuffer want = ByteBuffer.allocate(STRIDE).put(pattern(4096, i));
        if (i % 4 == 0) {
          want.put(4096 + 512, pattern(1024, -i), 0, 1024);
        }
        assertThat(data.get((long) i)).as("bytes of round %d", i).isEqualTo(want.clear());
      }
    }
  }
}
