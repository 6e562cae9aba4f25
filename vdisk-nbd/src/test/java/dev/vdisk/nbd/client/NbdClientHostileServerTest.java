package dev.vdisk.nbd.client;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.nbd.protocol.OptionCodec;
import dev.vdisk.nbd.protocol.Request;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client against a scripted server that misbehaves: silence during negotiation and after a request, an option
 * reply too large to buffer, data outside the READ it answers, a reply for no request, a connection closed in the
 * middle of a reply. Each ends in one {@link IOException} naming the image, in bounded time and memory.
 */
class NbdClientHostileServerTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(2);
  private ServerSocketChannel listener;
  private Thread server;

  /** What the scripted server does after negotiating, with the first request's header. */
  private interface Script {
    void run(SocketChannel ch, Request first) throws IOException;
  }

  @BeforeEach
  void listen() throws IOException {
    listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void close() throws Exception {
    listener.close();
    if (server != null) {
      server.interrupt();
      server.join(5000);
    }
  }

  private NbdTarget target() throws IOException {
    int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
    return new NbdTarget("127.0.0.1", port, null, "e", false, "nbd://127.0.0.1:" + port + "/e");
  }

  private NbdClientOptions options() {
    return NbdClientOptions.defaults(true).withTimeout(TIMEOUT);
  }

  /** Serves one client: negotiation done right (or {@code handshake} instead), then {@code script}. */
  private void serve(boolean negotiate, Script script) {
    server = Thread.ofVirtual().start(() -> {
      try (SocketChannel ch = listener.accept()) {
        if (negotiate) {
          negotiate(ch);
          ByteBuffer h = read(ch, REQUEST_SIZE);
          script.run(ch, TransmissionCodec.decodeRequest(h));
        } else {
          script.run(ch, null);
        }
      } catch (IOException e) {
        // the client hung up: expected in most scripts
      }
    });
  }

  private static void negotiate(SocketChannel ch) throws IOException {
    write(ch, OptionCodec.greeting());
    read(ch, 4);
    while (true) {
      ByteBuffer h = read(ch, OPTION_HEADER_SIZE);
      h.getLong();
      int option = h.getInt();
      read(ch, h.getInt());
      switch (option) {
        case NBD_OPT_STRUCTURED_REPLY -> write(ch, OptionCodec.optionReply(option, NBD_REP_ACK, ByteBuffer.allocate(0)));
        case NBD_OPT_SET_META_CONTEXT -> {
          write(ch, OptionCodec.optionReply(option, NBD_REP_META_CONTEXT, OptionCodec.metaContextPayload(1, BASE_ALLOCATION)));
          write(ch, OptionCodec.optionReply(option, NBD_REP_ACK, ByteBuffer.allocate(0)));
        }
        case NBD_OPT_GO -> {
          write(ch, OptionCodec.optionReply(option, NBD_REP_INFO, OptionCodec.infoExport(1 << 20, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY)));
          write(ch, OptionCodec.optionReply(option, NBD_REP_ACK, ByteBuffer.allocate(0)));
          return;
        }
        default -> write(ch, OptionCodec.optionReply(option, NBD_REP_ERR_UNSUP, ByteBuffer.allocate(0)));
      }
    }
  }

  private static ByteBuffer read(SocketChannel ch, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new IOException("closed");
      }
    }
    return b.flip();
  }

  private static void write(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  private static void sleep() {
    try {
      Thread.sleep(60_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void silenceDuringNegotiationTimesOut() throws IOException {
    serve(false, (ch, r) -> sleep());
    long start = System.nanoTime();
    assertThatThrownBy(() -> NbdClientDevice.open(target(), options()))
        .hasMessageStartingWith(target().name()).hasMessageContaining("no answer").hasMessageContaining("within 2 s");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void anOptionReplyTooLargeToBufferIsRefused() throws IOException {
    serve(false, (ch, r) -> {
      write(ch, OptionCodec.greeting());
      read(ch, 4);
      read(ch, OPTION_HEADER_SIZE);
      write(ch, ByteBuffer.allocate(20).putLong(NBD_REP_MAGIC).putInt(NBD_OPT_STRUCTURED_REPLY).putInt(NBD_REP_ACK)
          .putInt(Integer.MAX_VALUE).flip());
      sleep();
    });
    assertThatThrownBy(() -> NbdClientDevice.open(target(), options())).hasMessageContaining("option reply of");
  }

  @Test
  void silenceAfterARequestTimesOut() throws IOException {
    serve(true, (ch, r) -> sleep());
    try (NbdClientDevice d = NbdClientDevice.open(target(), options())) {
      long start = System.nanoTime();
      assertThatThrownBy(() -> d.read(0, ByteBuffer.allocate(4096)))
          .hasMessageContaining("read at offset 0").hasMessageContaining("no reply").hasMessageContaining("127.0.0.1");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
      assertThatThrownBy(() -> d.read(0, ByteBuffer.allocate(4096))).as("the connection stays failed").isInstanceOf(IOException.class);
    }
  }

  @Test
  void dataOutsideTheReadIsAProtocolError() throws IOException {
    serve(true, (ch, r) -> {
      ByteBuffer b = ByteBuffer.allocate(TransmissionCodec.OFFSET_DATA_PREFIX + 16);
      TransmissionCodec.offsetDataPrefix(b, true, r.cookie(), r.offset() + r.length(), 16);
      write(ch, b.position(b.capacity()).flip());
      sleep();
    });
    try (NbdClientDevice d = NbdClientDevice.open(target(), options())) {
      assertThatThrownBy(() -> d.read(0, ByteBuffer.allocate(4096))).hasMessageContaining("protocol error")
          .hasMessageContaining("outside the READ");
    }
  }

  @Test
  void aReplyForNoRequestIsAProtocolError() throws IOException {
    serve(true, (ch, r) -> {
      ByteBuffer b = ByteBuffer.allocate(SIMPLE_REPLY_SIZE);
      TransmissionCodec.simpleReply(b, 0, r.cookie() + 1000);
      write(ch, b.flip());
      sleep();
    });
    try (NbdClientDevice d = NbdClientDevice.open(target(), options())) {
      assertThatThrownBy(() -> d.read(0, ByteBuffer.allocate(4096))).hasMessageContaining("which no request in flight has");
    }
  }

  @Test
  void aConnectionClosedInTheMiddleOfAReplyFailsAtOnce() throws IOException {
    serve(true, (ch, r) -> {
      ByteBuffer b = ByteBuffer.allocate(TransmissionCodec.OFFSET_DATA_PREFIX + 100);
      TransmissionCodec.offsetDataPrefix(b, true, r.cookie(), r.offset(), 4096);
      write(ch, b.position(b.capacity()).flip()); // 100 of the 4096 bytes, then gone
    });
    try (NbdClientDevice d = NbdClientDevice.open(target(), options())) {
      long start = System.nanoTime();
      assertThatThrownBy(() -> d.read(0, ByteBuffer.allocate(4096))).hasMessageContaining("closed the connection");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).as("not the timeout").isLessThan(TIMEOUT);
    }
  }
}
