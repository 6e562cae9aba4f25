package dev.vdisk.nbd.protocol;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Encodes and decodes transmission-phase messages: request headers, simple replies and structured reply
 * chunks. Pure functions over {@link ByteBuffer}s in network byte order. Encoders append to a caller's
 * buffer so a whole reply can be assembled in one place and written at once.
 */
public final class TransmissionCodec {
  /** Bytes before the data of an {@link NbdProtocol#NBD_REPLY_TYPE_OFFSET_DATA} chunk: the header and the offset. */
  public static final int OFFSET_DATA_PREFIX = CHUNK_HEADER_SIZE + 8;
  /** Bytes of a whole {@link NbdProtocol#NBD_REPLY_TYPE_OFFSET_HOLE} chunk. */
  public static final int OFFSET_HOLE_CHUNK = CHUNK_HEADER_SIZE + 12;
  /** Bytes of an error chunk's fixed part (header, error, message length). */
  public static final int ERROR_CHUNK_FIXED = CHUNK_HEADER_SIZE + 6;
  /** Error messages sent to clients are cut to this many bytes. */
  public static final int MAX_ERROR_MESSAGE = 1024;

  private TransmissionCodec() {}

  /**
   * A request header (28 bytes).
   *
   * @throws ProtocolException if the magic is not {@code NBD_REQUEST_MAGIC}: the stream cannot be resynchronised
   */
  public static Request decodeRequest(ByteBuffer b) throws ProtocolException {
    return new RequestHeader().decode(b).toRequest();
  }

  /** A request header, as a client sends it (tests and tools). */
  public static void encodeRequest(ByteBuffer b, Request r) {
    b.putInt(NBD_REQUEST_MAGIC).putShort((short) r.flags()).putShort((short) r.type()).putLong(r.cookie())
        .putLong(r.offset()).putInt((int) r.length());
  }

  /** A simple reply header (16 bytes); read data, if any, follows it. */
  public static void simpleReply(ByteBuffer b, int error, long cookie) {
    b.putInt(NBD_SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
  }

  /** A structured chunk header (20 bytes) announcing {@code payloadLength} bytes. */
  public static void chunkHeader(ByteBuffer b, int flags, int type, long cookie, int payloadLength) {
    b.putInt(NBD_STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putInt(payloadLength);
  }

  /** The header and offset of an {@code OFFSET_DATA} chunk; the {@code dataLength} bytes follow. */
  public static void offsetDataPrefix(ByteBuffer b, boolean done, long cookie, long offset, int dataLength) {
    chunkHeader(b, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength);
    b.putLong(offset);
  }

  /** A whole {@code OFFSET_HOLE} chunk: {@code length} zero bytes at {@code offset}. */
  public static void offsetHole(ByteBuffer b, boolean done, long cookie, long offset, int length) {
    chunkHeader(b, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12);
    b.putLong(offset).putInt(length);
  }

  /** The final {@code NONE} chunk. */
  public static void done(ByteBuffer b, long cookie) {
    chunkHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0);
  }

  /** Bytes of a {@code BLOCK_STATUS} chunk with {@code descriptors} descriptors. */
  public static int blockStatusSize(int descriptors) {
    return CHUNK_HEADER_SIZE + 4 + 8 * descriptors;
  }

  /** The header and context id of a {@code BLOCK_STATUS} chunk; {@link #blockDescriptor}s follow. */
  public static void blockStatusPrefix(ByteBuffer b, boolean done, long cookie, int contextId, int descriptors) {
    chunkHeader(b, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, 4 + 8 * descriptors);
    b.putInt(contextId);
  }

  /** One block status descriptor: a length (32 bits, non-zero) and status flags. */
  public static void blockDescriptor(ByteBuffer b, int length, int status) {
    b.putInt(length).putInt(status);
  }

  /** The UTF-8 bytes of an error message as sent: at most {@link #MAX_ERROR_MESSAGE}. */
  public static byte[] errorMessage(String message) {
    return Utf8.truncate(message, MAX_ERROR_MESSAGE);
  }

  /** A final {@code ERROR} chunk: the error value and a message (from {@link #errorMessage}). */
  public static void errorChunk(ByteBuffer b, long cookie, int error, byte[] message) {
    chunkHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6 + message.length);
    b.putInt(error).putShort((short) message.length).put(message);
  }

  // The client's side.

  /** A reply's header after its magic: simple ({@code error} set, {@code flags}, {@code type}, {@code length} 0) or a structured chunk's. */
  public record ReplyHeader(boolean structured, long cookie, int error, int flags, int type, long length) {
    /** True for a structured chunk with {@link NbdProtocol#NBD_REPLY_FLAG_DONE}, and for every simple reply. */
    public boolean done() {
      return !structured || (flags & NBD_REPLY_FLAG_DONE) != 0;
    }

    /** True for the error chunk types (bit 15 set). */
    public boolean isErrorChunk() {
      return structured && (type & 0x8000) != 0;
    }
  }

  /** Bytes of a reply header after the 4-byte magic: 12 for a simple reply, 16 for a structured chunk. */
  public static int replyHeaderRest(int magic) throws ProtocolException {
    return switch (magic) {
      case NBD_SIMPLE_REPLY_MAGIC -> SIMPLE_REPLY_SIZE - 4;
      case NBD_STRUCTURED_REPLY_MAGIC -> CHUNK_HEADER_SIZE - 4;
      default -> throw new ProtocolException(String.format("reply magic: 0x%08x (expected: 0x%08x or 0x%08x)", magic,
          NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC));
    };
  }

  /** The rest of a reply header ({@link #replyHeaderRest} bytes) after {@code magic}. */
  public static ReplyHeader decodeReplyHeader(int magic, ByteBuffer b) {
    if (magic == NBD_SIMPLE_REPLY_MAGIC) {
      int error = b.getInt();
      return new ReplyHeader(false, b.getLong(), error, 0, 0, 0);
    }
    int flags = Short.toUnsignedInt(b.getShort());
    int type = Short.toUnsignedInt(b.getShort());
    long cookie = b.getLong();
    return new ReplyHeader(true, cookie, 0, flags, type, Integer.toUnsignedLong(b.getInt()));
  }

  /** One block status descriptor. */
  public record BlockDescriptor(long length, int status) {}

  /** A {@code BLOCK_STATUS} chunk: the context it describes and its descriptors in order. */
  public record BlockStatus(int contextId, List<BlockDescriptor> descriptors) {}

  /**
   * A {@code BLOCK_STATUS} chunk's payload: the context id, then descriptors of non-zero length.
   *
   * @throws ProtocolException if the payload is not a context id and whole descriptors, or a length is zero
   */
  public static BlockStatus decodeBlockStatus(ByteBuffer payload) throws ProtocolException {
    if (payload.remaining() < 12 || (payload.remaining() - 4) % 8 != 0) {
      throw new ProtocolException("block status chunk: " + payload.remaining()
          + " bytes (expected: 4 + 8 per descriptor, at least one)");
    }
    int contextId = payload.getInt();
    List<BlockDescriptor> out = new ArrayList<>(payload.remaining() / 8);
    while (payload.hasRemaining()) {
      long length = Integer.toUnsignedLong(payload.getInt());
      int status = payload.getInt();
      if (length == 0) {
        throw new ProtocolException("block status descriptor: length 0 (expected: > 0)");
      }
      out.add(new BlockDescriptor(length, status));
    }
    return new BlockStatus(contextId, out);
  }

  /** An error chunk's error value and message ({@code ERROR} or {@code ERROR_OFFSET}). */
  public record ErrorChunk(int error, String message) {}

  /** An error chunk's payload. @throws ProtocolException if the message length runs past the payload */
  public static ErrorChunk decodeErrorChunk(ByteBuffer payload) throws ProtocolException {
    if (payload.remaining() < 6) {
      throw new ProtocolException("error chunk: " + payload.remaining() + " bytes (expected: at least 6)");
    }
    int error = payload.getInt();
    int length = Short.toUnsignedInt(payload.getShort());
    if (length > payload.remaining()) {
      throw new ProtocolException("error chunk message: " + length + " bytes, " + payload.remaining() + " present");
    }
    ByteBuffer m = payload.slice(payload.position(), length);
    return new ErrorChunk(error, StandardCharsets.UTF_8.decode(m).toString().replaceAll("\\p{Cntrl}", " ").strip());
  }
}
