package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.nbd.protocol.Request;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A byte-level NBD client for tests: it can do everything a real client does and also everything a real
 * client must not (bad magic, truncated payloads, floods). Replies are parsed strictly.
 */
final class RawClient implements AutoCloseable {
  final SocketChannel ch;
  int transmissionFlags;
  long size;

  /** One reply: simple ({@code chunks} empty) or structured (every chunk, the last one DONE). */
  record Reply(long cookie, int error, List<Chunk> chunks, ByteBuffer simpleData) {}

  record Chunk(int flags, int type, ByteBuffer payload) {}

  /** An option reply. */
  record OptReply(int option, int type, ByteBuffer data) {}

  private RawClient(SocketChannel ch) {
    this.ch = ch;
  }

  static RawClient connect(SocketAddress a) throws IOException {
    return new RawClient(SocketChannel.open(a));
  }

  /** Reads the greeting and sends the client flags (fixed newstyle, no zeroes). */
  RawClient greet() throws IOException {
    ByteBuffer g = read(18);
    if (g.getLong() != NBDMAGIC || g.getLong() != IHAVEOPT) {
      throw new IOException("bad greeting");
    }
    send(ByteBuffer.allocate(4).putInt(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES).flip());
    return this;
  }

  void option(int option, ByteBuffer data) throws IOException {
    send(ByteBuffer.allocate(16 + data.remaining()).putLong(IHAVEOPT).putInt(option).putInt(data.remaining()).put(data).flip());
  }

  OptReply optReply() throws IOException {
    ByteBuffer h = read(20);
    if (h.getLong() != NBD_REP_MAGIC) {
      throw new IOException("bad option reply magic");
    }
    int option = h.getInt();
    int type = h.getInt();
    return new OptReply(option, type, read(h.getInt()));
  }

  /** Structured replies, {@code base:allocation} and {@code qemu:allocation-depth}, then GO to {@code export}. */
  RawClient go(String export, boolean structured) throws IOException {
    if (structured) {
      option(NBD_OPT_STRUCTURED_REPLY, ByteBuffer.allocate(0));
      expect(optReply(), NBD_REP_ACK);
      option(NBD_OPT_SET_META_CONTEXT, metaContextData(export, BASE_ALLOCATION, QEMU_ALLOCATION_DEPTH));
      OptReply r;
      while ((r = optReply()).type() == NBD_REP_META_CONTEXT) {
        // ids: base:allocation 1, qemu:allocation-depth 2 (asserted by tests that care)
      }
      expect(r, NBD_REP_ACK);
    }
    byte[] n = export.getBytes(StandardCharsets.UTF_8);
    option(NBD_OPT_GO, ByteBuffer.allocate(4 + n.length + 2).putInt(n.length).put(n).putShort((short) 0).flip());
    OptReply r;
    while ((r = optReply()).type() == NBD_REP_INFO) {
      if (r.data().getShort(0) == NBD_INFO_EXPORT) {
        size = r.data().getLong(2);
        transmissionFlags = Short.toUnsignedInt(r.data().getShort(10));
      }
    }
    expect(r, NBD_REP_ACK);
    return this;
  }

  static ByteBuffer metaContextData(String export, String... queries) {
    byte[] n = export.getBytes(StandardCharsets.UTF_8);
    int len = 4 + n.length + 4;
    for (String q : queries) {
      len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
    }
    ByteBuffer b = ByteBuffer.allocate(len).putInt(n.length).put(n).putInt(queries.length);
    for (String q : queries) {
      byte[] qb = q.getBytes(StandardCharsets.UTF_8);
      b.putInt(qb.length).put(qb);
    }
    return b.flip();
  }

  private static void expect(OptReply r, int type) throws IOException {
    if (r.type() != type) {
      throw new IOException("option " + r.option() + ": reply type 0x" + Integer.toHexString(r.type()) + ", expected 0x" + Integer.toHexString(type)
          + ": " + StandardCharsets.UTF_8.decode(r.data().duplicate()));
    }
  }

  void request(int flags, int type, long cookie, long offset, long length, ByteBuffer payload) throws IOException {
    ByteBuffer h = ByteBuffer.allocate(REQUEST_SIZE + (payload == null ? 0 : payload.remaining()));
    TransmissionCodec.encodeRequest(h, new Request(flags, type, cookie, offset, length));
    if (payload != null) {
      h.put(payload.duplicate());
    }
    send(h.flip());
  }

  /** Reads one whole reply; {@code readLength} is the length of the READ it answers when replies are simple. */
  Reply reply(int readLength) throws IOException {
    ByteBuffer h = read(4);
    int magic = h.getInt();
    if (magic == NBD_SIMPLE_REPLY_MAGIC) {
      ByteBuffer rest = read(12);
      int error = rest.getInt();
      long cookie = rest.getLong();
      return new Reply(cookie, error, List.of(), error == 0 && readLength > 0 ? read(readLength) : ByteBuffer.allocate(0));
    }
    if (magic != NBD_STRUCTURED_REPLY_MAGIC) {
      throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
    }
    List<Chunk> chunks = new ArrayList<>();
    long cookie;
    int error = 0;
    while (true) {
      if (!chunks.isEmpty()) {
        ByteBuffer m = read(4);
        if (m.getInt() != NBD_STRUCTURED_REPLY_MAGIC) {
          throw new IOException("bad chunk magic");
        }
      }
      ByteBuffer c = read(16);
      int flags = Short.toUnsignedInt(c.getShort());
      int type = Short.toUnsignedInt(c.getShort());
      cookie = c.getLong();
      ByteBuffer payload = read(c.getInt());
      chunks.add(new Chunk(flags, type, payload));
      if ((type & 0x8000) != 0) {
        error = payload.getInt(0);
      }
      if ((flags & NBD_REPLY_FLAG_DONE) != 0) {
        return new Reply(cookie, error, chunks, null);
      }
    }
  }

  /** The bytes a structured READ reply describes for {@code [offset, offset + len)}: data chunks copied, holes zero. */
  static ByteBuffer assemble(Reply r, long offset, int len) {
    ByteBuffer out = ByteBuffer.allocate(len);
    for (Chunk c : r.chunks()) {
      ByteBuffer p = c.payload().duplicate();
      if (c.type() == NBD_REPLY_TYPE_OFFSET_DATA) {
        long at = p.getLong();
        out.put((int) (at - offset), p, p.position(), p.remaining());
      } else if (c.type() != NBD_REPLY_TYPE_OFFSET_HOLE && c.type() != NBD_REPLY_TYPE_NONE) {
        throw new IllegalStateException("not a successful read reply: chunk type " + c.type());
      }
    }
    return out;
  }

  void send(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  ByteBuffer read(int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new EOFException("server closed the connection");
      }
    }
    return b.flip();
  }

  /** True if the server closed the connection (reads end of stream within a few seconds). */
  boolean closedByServer() throws IOException {
    ch.socket().setSoTimeout(5000);
    try {
      return ch.socket().getInputStream().read() < 0;
    } catch (IOException e) {
      return true;
    }
  }

  @Override
  public void close() throws IOException {
    ch.close();
  }
}
