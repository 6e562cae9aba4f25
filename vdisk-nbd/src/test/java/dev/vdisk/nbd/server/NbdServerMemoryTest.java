package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_CMD_READ;
import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_CMD_WRITE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Issue 13, fault 4: payload memory is bounded for the whole server, not only per connection. Clients that push
 * large writes without reading replies are held back (the server stops reading from them while the global budget
 * is spent), and the direct memory of payload buffers the pool does not keep is returned at once, not when the
 * collector gets to it: the JVM's direct memory in use stays within the global budget plus what the pool retains.
 */
class NbdServerMemoryTest {
  private static final int MIB = 1 << 20;
  private static final int CLIENTS = 4;
  private static final int WRITES = 24;
  private static final long TOTAL = 4L * MIB;

  @Test
  void floodingClientsStayWithinTheGlobalBudget() throws Exception {
    MemoryDevice disk = new MemoryDevice((long) CLIENTS * WRITES * MIB);
    ServerConfig config = ServerConfig.DEFAULTS.withMaxPayload(MIB).withInflightBytes(8L * MIB, TOTAL)
        .withHandshakeTimeout(Duration.ofSeconds(5));
    NbdServer server = new NbdServer(List.of(new Export("d", "", new CheckedDevice(disk), DiscardMode.UNMAP)), config,
        new EventLog(new PrintWriter(new StringWriter(), true)));
    try {
      SocketAddress address = server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
          .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
      System.gc(); // a quiet baseline: garbage of earlier tests is not this server's
      long baseline = direct.getMemoryUsed();
      AtomicLong peak = new AtomicLong();
      Thread sampler = Thread.ofPlatform().daemon().start(() -> {
        while (!Thread.currentThread().isInterrupted()) {
          peak.accumulateAndGet(direct.getMemoryUsed() - baseline, Math::max);
          Thread.onSpinWait();
        }
      });
      List<RawClient> clients = new ArrayList<>();
      List<CompletableFuture<Void>> senders = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        RawClient client = RawClient.connect(address).greet().go("d", false);
        clients.add(client);
        int first = c * WRITES;
        // Every write sent before any reply is read: the server must stop reading rather than buffer them.
        senders.add(CompletableFuture.runAsync(() -> {
          try {
            for (int w = 0; w < WRITES; w++) {
              ByteBuffer data = ByteBuffer.allocate(MIB);
              while (data.hasRemaining()) {
                data.put((byte) (first + w));
              }
              client.request(0, NBD_CMD_WRITE, first + w, (long) (first + w) * MIB, MIB, data.flip());
            }
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }));
      }
      Thread.sleep(1000); // the flood fills every budget it can
      for (int c = 0; c < CLIENTS; c++) {
        for (int w = 0; w < WRITES; w++) {
          assertThat(clients.get(c).reply(0).error()).isZero();
        }
        senders.get(c).get(30, TimeUnit.SECONDS);
      }
      sampler.interrupt();
      // The pool keeps up to two max payloads idle; small buffers (headers) take a little more.
      assertThat(peak.get()).as("direct memory in use above the baseline").isLessThanOrEqualTo(TOTAL + 2L * MIB + MIB);
      for (int c = 0; c < CLIENTS; c++) {
        RawClient client = clients.get(c);
        client.request(0, NBD_CMD_READ, 1, (long) c * WRITES * MIB, 4096, null);
        assertThat(client.reply(4096).simpleData().get(0)).isEqualTo((byte) (c * WRITES));
        client.close();
      }
    } finally {
      server.stop(Duration.ofSeconds(5));
    }
  }
}
