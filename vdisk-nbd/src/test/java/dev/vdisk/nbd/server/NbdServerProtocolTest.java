package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.nbd.server.RawClient.Chunk;
import dev.vdisk.nbd.server.RawClient.OptReply;
import dev.vdisk.nbd.server.RawClient.Reply;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The server's protocol behaviour at the byte level, with a client that can also misbehave. Exports are
 * in-memory devices under the same guard as every image stack.
 */
class NbdServerProtocolTest {
  private static final int SIZE = 8 << 20;
  private static final int MAX_PAYLOAD = 256 << 10;

  private final StringWriter logText = new StringWriter();
  private NbdServer server;
  private SocketAddress address;
  private MemoryDevice rw;

  @BeforeEach
  void start() throws IOException {
    rw = new MemoryDevice(SIZE);
    List<Export> exports = List.of(
        // page-cache writes: small aligned writes run on the reader thread, larger ones on their own threads
        new Export("rw", "a writable disk", new CheckedDevice(rw), DiscardMode.UNMAP, true),
        new Export("ro", "", new CheckedDevice(new MemoryDevice(SIZE), true), DiscardMode.UNMAP));
    ServerConfig config = ServerConfig.DEFAULTS.withMaxPayload(MAX_PAYLOAD).withHandshakeTimeout(Duration.ofSeconds(2));
    server = new NbdServer(exports, new ServerConfig(MAX_PAYLOAD, MAX_PAYLOAD * 4L, MAX_PAYLOAD * 16L, 8, config.handshakeTimeout(), AllowList.ANYONE, TlsMode.OFF, null, 0),
        new EventLog(new PrintWriter(logText, true)));
    address = server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(5));
  }

  private RawClient client(String export, boolean structured) throws IOException {
    return RawClient.connect(address).greet().go(export, structured);
  }

  private static ByteBuffer pattern(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(n);
    for (int i = 0; i < n; i++) {
      b.put((byte) (seed + i * 7));
    }
    return b.flip();
  }

  @Test
  void greetingAndOptionErrors() throws IOException {
    try (RawClient c = RawClient.connect(address)) {
      ByteBuffer g = c.read(18);
      assertThat(g.getLong()).isEqualTo(0x4e42444d41474943L);
      assertThat(g.getLong()).isEqualTo(0x49484156454F5054L);
      assertThat(g.getShort()).isEqualTo((short) (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES));
      c.send(ByteBuffer.allocate(4).putInt(NBD_FLAG_C_FIXED_NEWSTYLE).flip());

      c.option(99, ByteBuffer.wrap(new byte[] {1, 2, 3}));
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ERR_UNSUP);
      c.option(NBD_OPT_STARTTLS, ByteBuffer.allocate(0));
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ERR_POLICY);
      c.option(NBD_OPT_LIST, ByteBuffer.allocate(0));
      OptReply first = c.optReply();
      OptReply second = c.optReply();
      assertThat(first.type()).isEqualTo(NBD_REP_SERVER);
      assertThat(first.data().getInt()).isEqualTo(2);
      assertThat(StandardCharsets.UTF_8.decode(first.data()).toString()).isEqualTo("rwa writable disk");
      assertThat(second.type()).isEqualTo(NBD_REP_SERVER);
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ACK);
      c.option(NBD_OPT_LIST, ByteBuffer.allocate(1));
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
      // metadata contexts need structured replies first
      c.option(NBD_OPT_SET_META_CONTEXT, RawClient.metaContextData("rw", BASE_ALLOCATION));
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
      // INFO for an export that does not exist, and with a name length past the data
      c.option(NBD_OPT_INFO, ByteBuffer.allocate(9).putInt(3).put("nop".getBytes(StandardCharsets.UTF_8)).putShort((short) 0).flip());
      OptReply unknown = c.optReply();
      assertThat(unknown.type()).isEqualTo(NBD_REP_ERR_UNKNOWN);
      assertThat(StandardCharsets.UTF_8.decode(unknown.data()).toString()).contains("'nop'");
      c.option(NBD_OPT_GO, ByteBuffer.allocate(6).putInt(1000).putShort((short) 0).flip());
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
      // still negotiating: a good GO works after all of that
      c.option(NBD_OPT_GO, ByteBuffer.allocate(8).putInt(2).put("rw".getBytes(StandardCharsets.UTF_8)).putShort((short) 0).flip());
      OptReply info = c.optReply();
      assertThat(info.type()).isEqualTo(NBD_REP_INFO);
      assertThat(info.data().getShort()).isEqualTo((short) NBD_INFO_EXPORT);
      assertThat(info.data().getLong()).isEqualTo(SIZE);
      int flags = Short.toUnsignedInt(info.data().getShort());
      assertThat(flags & NBD_FLAG_SEND_DF).as("DF without structured replies").isZero();
      assertThat(flags & (NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN))
          .isEqualTo(NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN);
      OptReply blockSize = c.optReply();
      assertThat(blockSize.data().getShort()).isEqualTo((short) NBD_INFO_BLOCK_SIZE);
      assertThat(List.of(blockSize.data().getInt(), blockSize.data().getInt(), blockSize.data().getInt())).containsExactly(1, 4096, MAX_PAYLOAD);
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ACK);
    }
  }

  @Test
  void metaContextsListAndSelect() throws IOException {
    try (RawClient c = RawClient.connect(address).greet()) {
      c.option(NBD_OPT_STRUCTURED_REPLY, ByteBuffer.allocate(0));
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ACK);
      c.option(NBD_OPT_LIST_META_CONTEXT, RawClient.metaContextData("rw"));
      assertThat(contextNames(c)).containsExactly(BASE_ALLOCATION, QEMU_ALLOCATION_DEPTH);
      c.option(NBD_OPT_LIST_META_CONTEXT, RawClient.metaContextData("rw", "qemu:", "x-other:thing"));
      assertThat(contextNames(c)).containsExactly(QEMU_ALLOCATION_DEPTH);
      c.option(NBD_OPT_SET_META_CONTEXT, RawClient.metaContextData("rw", "base:", QEMU_ALLOCATION_DEPTH, "nope:x"));
      OptReply selected = c.optReply();
      assertThat(selected.type()).isEqualTo(NBD_REP_META_CONTEXT);
      assertThat(selected.data().getInt()).isEqualTo(2);
      assertThat(StandardCharsets.UTF_8.decode(selected.data()).toString()).isEqualTo(QEMU_ALLOCATION_DEPTH);
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ACK);
      // a query count that the data cannot hold
      c.option(NBD_OPT_SET_META_CONTEXT, ByteBuffer.allocate(10).putInt(2).put("rw".getBytes(StandardCharsets.UTF_8)).putInt(1000).flip());
      assertThat(c.optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
    }
  }

  private static List<String> contextNames(RawClient c) throws IOException {
    List<String> names = new java.util.ArrayList<>();
    OptReply r;
    while ((r = c.optReply()).type() == NBD_REP_META_CONTEXT) {
      r.data().getInt();
      names.add(StandardCharsets.UTF_8.decode(r.data()).toString());
    }
    assertThat(r.type()).isEqualTo(NBD_REP_ACK);
    return names;
  }

  @Test
  void sparseReadsSendHolesAsHolesAndDfSendsOneChunk() throws IOException {
    int k = RequestExecutor.SPARSE_READ_MIN;
    try (RawClient c = client("rw", true)) {
      c.request(0, NBD_CMD_WRITE, 1, k, 4096, pattern(4096, 3));
      assertThat(c.reply(0).error()).isZero();
      c.request(0, NBD_CMD_READ, 2, 0, 3 * k, null);
      Reply r = c.reply(0);
      assertThat(r.cookie()).isEqualTo(2);
      assertThat(r.chunks()).extracting(Chunk::type)
          .containsExactly(NBD_REPLY_TYPE_OFFSET_HOLE, NBD_REPLY_TYPE_OFFSET_DATA, NBD_REPLY_TYPE_OFFSET_HOLE);
      assertThat(r.chunks()).extracting(Chunk::flags).containsExactly(0, 0, NBD_REPLY_FLAG_DONE);
      ByteBuffer hole = r.chunks().get(0).payload();
      assertThat(List.of(hole.getLong(), (long) hole.getInt())).containsExactly(0L, (long) k);
      ByteBuffer data = r.chunks().get(1).payload();
      assertThat(data.getLong()).isEqualTo(k);
      assertThat(data).isEqualTo(pattern(4096, 3));
      ByteBuffer tail = r.chunks().get(2).payload();
      assertThat(List.of(tail.getLong(), (long) tail.getInt())).containsExactly(k + 4096L, 2L * k - 4096);

      c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 3, 0, 3 * k, null);
      Reply df = c.reply(0);
      assertThat(df.chunks()).hasSize(1);
      ByteBuffer whole = df.chunks().getFirst().payload();
      assertThat(whole.getLong()).isZero();
      assertThat(whole.remaining()).isEqualTo(3 * k);
      assertThat(whole.slice(8 + k, 4096)).isEqualTo(pattern(4096, 3));
      assertThat(whole.slice(8, k)).isEqualTo(ByteBuffer.allocate(k));

      c.request(0, NBD_CMD_READ, 4, 1 << 20, k, null);
      assertThat(c.reply(0).chunks()).extracting(Chunk::type).containsExactly(NBD_REPLY_TYPE_OFFSET_HOLE);
      c.request(0, NBD_CMD_READ, 5, 1 << 20, k - 1, null);
      Reply small = c.reply(0);
      assertThat(small.chunks()).as("below SPARSE_READ_MIN: one data chunk").extracting(Chunk::type).containsExactly(NBD_REPLY_TYPE_OFFSET_DATA);
      assertThat(RawClient.assemble(small, 1 << 20, k - 1)).isEqualTo(ByteBuffer.allocate(k - 1));
    }
  }

  @Test
  void blockStatusForBothContextsAndReqOne() throws IOException {
    try (RawClient c = client("rw", true)) {
      c.request(0, NBD_CMD_WRITE, 1, 8192, 8192, pattern(8192, 1));
      assertThat(c.reply(0).error()).isZero();
      c.request(0, NBD_CMD_BLOCK_STATUS, 2, 0, 65536, null);
      Reply r = c.reply(0);
      assertThat(r.chunks()).hasSize(2);
      ByteBuffer base = r.chunks().get(0).payload();
      assertThat(base.getInt()).isEqualTo(1);
      assertThat(descriptors(base)).containsExactly(8192L, 3L, 8192L, 0L, 49152L, 3L);
      ByteBuffer depth = r.chunks().get(1).payload();
      assertThat(depth.getInt()).isEqualTo(2);
      assertThat(descriptors(depth)).containsExactly(65536L, 1L);
      assertThat(r.chunks().get(1).flags()).isEqualTo(NBD_REPLY_FLAG_DONE);

      c.request(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 3, 0, 65536, null);
      Reply one = c.reply(0);
      ByteBuffer b = one.chunks().get(0).payload();
      b.getInt();
      assertThat(descriptors(b)).containsExactly(8192L, 3L);

      c.request(0, NBD_CMD_BLOCK_STATUS, 4, SIZE - 4096, 8192, null);
      assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
    }
  }

  private static List<Long> descriptors(ByteBuffer b) {
    List<Long> out = new java.util.ArrayList<>();
    while (b.hasRemaining()) {
      out.add(Integer.toUnsignedLong(b.getInt()));
    }
    return out;
  }

  @Test
  void errorsTheSpecNames() throws IOException {
    try (RawClient c = client("rw", true); RawClient ro = client("ro", false)) {
      c.request(0, NBD_CMD_READ, 1, SIZE - 512, 1024, null);
      Reply pastEnd = c.reply(0);
      assertThat(pastEnd.error()).isEqualTo(NBD_EINVAL);
      assertThat(pastEnd.chunks().getFirst().type()).isEqualTo(NBD_REPLY_TYPE_ERROR);
      c.request(0, NBD_CMD_WRITE, 2, SIZE - 512, 1024, pattern(1024, 0));
      assertThat(c.reply(0).error()).isEqualTo(NBD_ENOSPC);
      c.request(0, 42, 3, 0, 0, null);
      assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
      c.request(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_WRITE, 4, 0, 16, pattern(16, 0));
      assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
      c.request(0, NBD_CMD_READ, 5, 0, MAX_PAYLOAD + 1, null);
      assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
      c.request(0, NBD_CMD_READ, 6, -4096, 4096, null); // offset 2^64 - 4096
      assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
      // an oversize WRITE is drained, refused, and the stream stays in step
      c.request(0, NBD_CMD_WRITE, 7, 0, MAX_PAYLOAD + 4096, pattern(MAX_PAYLOAD + 4096, 9));
      assertThat(c.reply(0).error()).isEqualTo(NBD_EINVAL);
      c.request(0, NBD_CMD_WRITE, 8, 0, 4096, pattern(4096, 5));
      assertThat(c.reply(0).error()).isZero();
      assertThat(rw.allocatedBytes()).isEqualTo(4096);

      assertThat(ro.transmissionFlags & NBD_FLAG_READ_ONLY).isNotZero();
      ro.request(0, NBD_CMD_WRITE, 1, 0, 512, pattern(512, 1));
      assertThat(ro.reply(0).error()).isEqualTo(NBD_EPERM);
      ro.request(0, NBD_CMD_TRIM, 2, 0, 512, null);
      assertThat(ro.reply(0).error()).isEqualTo(NBD_EPERM);
      ro.request(0, NBD_CMD_WRITE_ZEROES, 3, 0, 512, null);
      assertThat(ro.reply(0).error()).isEqualTo(NBD_EPERM);
      ro.request(0, NBD_CMD_BLOCK_STATUS, 4, 0, 512, null);
      assertThat(ro.reply(0).error()).as("no contexts negotiated").isEqualTo(NBD_EINVAL);
      ro.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 5, 0, 512, null);
      assertThat(ro.reply(512).error()).as("DF without structured replies").isEqualTo(NBD_EINVAL);
      ro.request(0, NBD_CMD_READ, 6, 0, 512, null);
      Reply simple = ro.reply(512);
      assertThat(simple.error()).isZero();
      assertThat(simple.simpleData()).isEqualTo(ByteBuffer.allocate(512));
    }
  }

  @Test
  void zeroesTrimFlushAndCache() throws IOException {
    try (RawClient c = client("rw", true)) {
      c.request(0, NBD_CMD_WRITE, 1, 0, 65536, pattern(65536, 2));
      c.request(NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, NBD_CMD_WRITE_ZEROES, 2, 0, 4096, null);
      c.request(NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, 3, 4096, 4096, null);
      c.request(0, NBD_CMD_TRIM, 4, 8192, 8192, null);
      c.request(0, NBD_CMD_FLUSH, 5, 0, 0, null);
      c.request(0, NBD_CMD_CACHE, 6, 0, 65536, null);
      Set<Long> done = new HashSet<>();
      for (int i = 0; i < 6; i++) {
        Reply r = c.reply(0);
        assertThat(r.error()).as("cookie %d", r.cookie()).isZero();
        done.add(r.cookie());
      }
      assertThat(done).containsExactlyInAnyOrder(1L, 2L, 3L, 4L, 5L, 6L);
      c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 7, 0, 20480, null);
      Reply df = c.reply(0);
      assertThat(df.chunks()).hasSize(1);
      ByteBuffer data = RawClient.assemble(df, 0, 20480);
      assertThat(data.slice(0, 16384)).isEqualTo(ByteBuffer.allocate(16384));
      assertThat(data.slice(16384, 4096)).isEqualTo(pattern(65536, 2).slice(16384, 4096));
      assertThat(rw.allocatedBytes()).isEqualTo(65536 - 16384);
    }
  }

  @Test
  void manyRequestsInFlightAllAnswered() throws IOException {
    try (RawClient c = client("rw", true)) {
      int n = 200;
      for (int i = 0; i < n; i++) {
        c.request(0, NBD_CMD_WRITE, 1000 + i, i * 4096L, 4096, pattern(4096, i));
      }
      Set<Long> cookies = new HashSet<>();
      for (int i = 0; i < n; i++) {
        Reply r = c.reply(0);
        assertThat(r.error()).isZero();
        cookies.add(r.cookie());
      }
      assertThat(cookies).hasSize(n);
      for (int i = 0; i < n; i++) {
        c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, i, i * 4096L, 4096, null);
      }
      for (int i = 0; i < n; i++) {
        Reply r = c.reply(0);
        ByteBuffer p = r.chunks().getFirst().payload();
        assertThat(p.getLong()).isEqualTo(r.cookie() * 4096);
        assertThat(p).isEqualTo(pattern(4096, (int) r.cookie()));
      }
    }
  }

  @Test
  void misbehavingClientsDoNotDisturbOthers() throws Exception {
    try (RawClient good = client("rw", true)) {
      good.request(0, NBD_CMD_WRITE, 1, 0, 4096, pattern(4096, 1));
      assertThat(good.reply(0).error()).isZero();

      try (RawClient garbage = RawClient.connect(address)) {
        garbage.read(18);
        garbage.send(ByteBuffer.wrap("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
        assertThat(garbage.closedByServer()).isTrue();
      }
      try (RawClient badMagic = client("rw", true)) {
        badMagic.send(ByteBuffer.allocate(28).putInt(0x12345678).position(28).flip());
        assertThat(badMagic.closedByServer()).isTrue();
      }
      try (RawClient hugeOption = RawClient.connect(address).greet()) {
        hugeOption.send(ByteBuffer.allocate(16).putLong(IHAVEOPT).putInt(NBD_OPT_GO).putInt(Integer.MAX_VALUE).flip());
        assertThat(hugeOption.closedByServer()).isTrue();
      }
      // a WRITE whose payload never fully arrives is never applied
      try (RawClient truncated = client("rw", true)) {
        truncated.request(0, NBD_CMD_WRITE, 1, 1 << 20, 8192, pattern(4096, 7)); // half the payload
      }
      // a flood: many requests sent, no reply read; the server stops reading from it, others go on
      RawClient flood = client("rw", true);
      ByteBuffer many = ByteBuffer.allocate(28 * 20000);
      for (int i = 0; i < 20000; i++) {
        dev.vdisk.nbd.protocol.TransmissionCodec.encodeRequest(many,
            new dev.vdisk.nbd.protocol.Request(NBD_CMD_FLAG_DF, NBD_CMD_READ, i, 0, MAX_PAYLOAD));
      }
      flood.ch.configureBlocking(false);
      flood.ch.write(many.flip()); // as much as the socket takes; the rest is never sent

      good.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 2, 0, 4096, null);
      Reply r = good.reply(0);
      assertThat(r.error()).isZero();
      ByteBuffer p = r.chunks().getFirst().payload();
      p.getLong();
      assertThat(p).isEqualTo(pattern(4096, 1));
      flood.close();

      good.request(0, NBD_CMD_BLOCK_STATUS, 3, 1 << 20, 8192, null);
      ByteBuffer base = good.reply(0).chunks().getFirst().payload();
      base.getInt();
      assertThat(descriptors(base)).as("truncated write left nothing").containsExactly(8192L, 3L);
    }
    assertThat(logText.toString()).contains("event=protocol-error").contains("request magic: 0x12345678");
  }

  /** A client that reads none of its replies leaves the threads that write them waiting: a stop still ends them. */
  @Test
  void aStopEndsAConnectionWhoseClientReadsNoReplies() throws Exception {
    RawClient flood = client("rw", true);
    ByteBuffer many = ByteBuffer.allocate(28 * 2000);
    for (int i = 0; i < 2000; i++) { // 500 MB of replies asked for, far more than the sockets' buffers hold
      dev.vdisk.nbd.protocol.TransmissionCodec.encodeRequest(many,
          new dev.vdisk.nbd.protocol.Request(NBD_CMD_FLAG_DF, NBD_CMD_READ, i, 0, MAX_PAYLOAD));
    }
    flood.ch.write(many.flip());
    Thread.sleep(500); // the server reads what it may and waits to write replies
    long t0 = System.nanoTime();
    server.stop(Duration.ofSeconds(1));
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(8));
    assertThat(logText.toString()).doesNotContain("shutdown-timeout").contains("event=close");
    flood.close();
  }

  @Test
  void silentClientIsDroppedAfterTheHandshakeTimeout() throws IOException {
    try (RawClient c = RawClient.connect(address)) {
      c.read(18);
      long start = System.nanoTime();
      assertThat(c.closedByServer()).isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
    }
  }

  @Test
  void gracefulStopAnswersInFlightRequestsAndRefusesLaterOnes() throws Exception {
    RawClient c = client("rw", true);
    int n = 32;
    for (int i = 0; i < n; i++) {
      c.request(NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, i, i * 4096L, 4096, pattern(4096, i));
    }
    assertThat(c.reply(0).error()).as("the server is executing").isZero();
    Thread stopper = Thread.ofPlatform().start(() -> server.stop(Duration.ofSeconds(10)));
    Set<Long> written = new HashSet<>();
    int refused = 0;
    for (int i = 1; i < n; i++) {
      Reply r = c.reply(0);
      if (r.error() == 0) {
        written.add(r.cookie());
      } else {
        assertThat(r.error()).isEqualTo(NBD_ESHUTDOWN);
        refused++;
      }
    }
    while (!logText.toString().contains("event=shutdown")) {
      Thread.sleep(10);
    }
    Thread.sleep(200); // stop() marks connections right after logging
    c.request(0, NBD_CMD_READ, 98, 0, 4096, null);
    assertThat(c.reply(0).error()).as("a request after the stop").isEqualTo(NBD_ESHUTDOWN);
    c.request(0, NBD_CMD_DISC, 99, 0, 0, null); // what a client does on ESHUTDOWN
    assertThat(c.closedByServer()).isTrue();
    stopper.join();
    assertThat(written.size() + refused).isEqualTo(n - 1);
    for (long cookie : written) {
      ByteBuffer b = ByteBuffer.allocate(4096);
      rw.read(cookie * 4096, b);
      assertThat(b.flip()).isEqualTo(pattern(4096, (int) cookie));
    }
    assertThat(logText.toString()).contains("event=shutdown").contains("end=disconnect").contains("event=stopped");
    c.close();
  }
}
