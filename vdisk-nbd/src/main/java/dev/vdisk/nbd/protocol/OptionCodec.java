package dev.vdisk.nbd.protocol;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Encodes and decodes the messages of the handshake phase (fixed newstyle negotiation). Pure functions over
 * {@link ByteBuffer}s in network byte order; decoders consume what they read and validate every length
 * against the bytes actually present.
 */
public final class OptionCodec {
  /** The handshake flags vdisk's server sends. */
  public static final int SERVER_HANDSHAKE_FLAGS = NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES;
  /** Client flags a server sending {@link #SERVER_HANDSHAKE_FLAGS} accepts. */
  private static final int KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;
  private static final int EXPORT_NAME_ZEROES = 124;

  private OptionCodec() {}

  /** An option request's header: the option and the length of the data that follows. */
  public record OptionHeader(int option, long length) {}

  /** {@link NbdProtocol#NBD_OPT_INFO}/{@link NbdProtocol#NBD_OPT_GO} data: the export and the information asked for. */
  public record InfoRequest(String exportName, List<Integer> infoTypes) {}

  /** {@link NbdProtocol#NBD_OPT_LIST_META_CONTEXT}/{@link NbdProtocol#NBD_OPT_SET_META_CONTEXT} data. */
  public record MetaContextRequest(String exportName, List<String> queries) {}

  /** The server's greeting: {@code NBDMAGIC}, {@code IHAVEOPT}, handshake flags (18 bytes). */
  public static ByteBuffer greeting() {
    return ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) SERVER_HANDSHAKE_FLAGS).flip();
  }

  /**
   * The client's 32 flag bits.
   *
   * @throws ProtocolException for bits the server did not offer (the spec says drop the connection)
   */
  public static int decodeClientFlags(ByteBuffer b) throws ProtocolException {
    int flags = b.getInt();
    if ((flags & ~KNOWN_CLIENT_FLAGS) != 0) {
      throw new ProtocolException(String.format("client flags: 0x%08x (expected: only bits 0 and 1)", flags));
    }
    return flags;
  }

  /** The 16-byte option header. @throws ProtocolException if the magic is not {@code IHAVEOPT} */
  public static OptionHeader decodeOptionHeader(ByteBuffer b) throws ProtocolException {
    long magic = b.getLong();
    if (magic != IHAVEOPT) {
      throw new ProtocolException(String.format("option magic: 0x%016x (expected: 0x%016x IHAVEOPT)", magic, IHAVEOPT));
    }
    int option = b.getInt();
    return new OptionHeader(option, Integer.toUnsignedLong(b.getInt()));
  }

  /** One option reply: the 20-byte header and {@code payload} (may be empty). */
  public static ByteBuffer optionReply(int option, int replyType, ByteBuffer payload) {
    ByteBuffer b = ByteBuffer.allocate(OPTION_REPLY_HEADER_SIZE + payload.remaining());
    b.putLong(NBD_REP_MAGIC).putInt(option).putInt(replyType).putInt(payload.remaining()).put(payload.duplicate());
    return b.flip();
  }

  /** An error reply with a message for humans (truncated to the protocol's string limit). */
  public static ByteBuffer errorReply(int option, int errorType, String message) {
    return optionReply(option, errorType, ByteBuffer.wrap(Utf8.truncate(message, MAX_STRING)));
  }

  /** The reply that ends {@link NbdProtocol#NBD_OPT_EXPORT_NAME}: size, transmission flags, and 124 zeroes unless the client said no. */
  public static ByteBuffer exportNameReply(long size, int transmissionFlags, boolean noZeroes) {
    ByteBuffer b = ByteBuffer.allocate(10 + (noZeroes ? 0 : EXPORT_NAME_ZEROES));
    b.putLong(size).putShort((short) transmissionFlags);
    return b.position(b.capacity()).flip();
  }

  /** {@link NbdProtocol#NBD_REP_SERVER} payload: the name, then the description for humans. */
  public static ByteBuffer serverPayload(String name, String description) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    byte[] d = description.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(4 + n.length + d.length).putInt(n.length).put(n).put(d).flip();
  }

  /** {@link NbdProtocol#NBD_INFO_EXPORT}: size and transmission flags. */
  public static ByteBuffer infoExport(long size, int transmissionFlags) {
    return ByteBuffer.allocate(12).putShort((short) NBD_INFO_EXPORT).putLong(size).putShort((short) transmissionFlags).flip();
  }

  /** {@link NbdProtocol#NBD_INFO_NAME} or {@link NbdProtocol#NBD_INFO_DESCRIPTION}: a string. */
  public static ByteBuffer infoString(int infoType, String text) {
    byte[] t = text.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(2 + t.length).putShort((short) infoType).put(t).flip();
  }

  /** {@link NbdProtocol#NBD_INFO_BLOCK_SIZE}: minimum, preferred and maximum block sizes. */
  public static ByteBuffer infoBlockSize(int minimum, int preferred, int maximum) {
    return ByteBuffer.allocate(14).putShort((short) NBD_INFO_BLOCK_SIZE).putInt(minimum).putInt(preferred).putInt(maximum).flip();
  }

  /** {@link NbdProtocol#NBD_REP_META_CONTEXT} payload: context id and name. */
  public static ByteBuffer metaContextPayload(int contextId, String name) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(4 + n.length).putInt(contextId).put(n).flip();
  }

  /** The whole data of {@link NbdProtocol#NBD_OPT_EXPORT_NAME}: the export name. */
  public static String decodeExportName(ByteBuffer data) throws OptionDataException {
    return string(data, data.remaining(), "export name");
  }

  /** {@link NbdProtocol#NBD_OPT_INFO}/{@link NbdProtocol#NBD_OPT_GO} data; all of {@code data} must be used. */
  public static InfoRequest decodeInfoRequest(ByteBuffer data) throws OptionDataException {
    try {
      String name = string(data, length32(data, "export name"), "export name");
      int count = Short.toUnsignedInt(data.getShort());
      if (data.remaining() != 2 * count) {
        throw new OptionDataException("information requests: " + count + " announced, " + data.remaining()
            + " bytes present (expected: 2 bytes each, and nothing after them)");
      }
      List<Integer> types = new ArrayList<>(count);
      for (int i = 0; i < count; i++) {
        types.add(Short.toUnsignedInt(data.getShort()));
      }
      return new InfoRequest(name, List.copyOf(types));
    } catch (BufferUnderflowException e) {
      throw new OptionDataException("option data: ends early (expected: name length, name, request count, requests)");
    }
  }

  /** {@link NbdProtocol#NBD_OPT_LIST_META_CONTEXT}/{@link NbdProtocol#NBD_OPT_SET_META_CONTEXT} data; all of {@code data} must be used. */
  public static MetaContextRequest decodeMetaContextRequest(ByteBuffer data) throws OptionDataException {
    try {
      String name = string(data, length32(data, "export name"), "export name");
      long count = Integer.toUnsignedLong(data.getInt());
      if (count > data.remaining() / 4) {
        throw new OptionDataException("queries: " + count + " announced in " + data.remaining() + " bytes (expected: 4 bytes at least each)");
      }
      List<String> queries = new ArrayList<>((int) count);
      for (long i = 0; i < count; i++) {
        queries.add(string(data, length32(data, "query"), "query"));
      }
      if (data.hasRemaining()) {
        throw new OptionDataException("option data: " + data.remaining() + " bytes after the last query (expected: none)");
      }
      return new MetaContextRequest(name, List.copyOf(queries));
    } catch (BufferUnderflowException e) {
      throw new OptionDataException("option data: ends early (expected: name length, name, query count, queries)");
    }
  }

  private static int length32(ByteBuffer data, String what) throws OptionDataException {
    long n = Integer.toUnsignedLong(data.getInt());
    if (n > data.remaining()) {
      throw new OptionDataException(what + " length: " + n + " (expected: at most the " + data.remaining() + " bytes left in the option)");
    }
    return (int) n;
  }

  private static String string(ByteBuffer data, int length, String what) throws OptionDataException {
    if (length > MAX_STRING) {
      throw new OptionDataException(what + ": " + length + " bytes (expected: at most " + MAX_STRING + ")");
    }
    ByteBuffer bytes = data.slice(data.position(), length);
    data.position(data.position() + length);
    try {
      String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
      if (s.indexOf('\0') >= 0) {
        throw new OptionDataException(what + ": contains NUL (expected: a string without NUL)");
      }
      return s;
    } catch (CharacterCodingException e) {
      throw new OptionDataException(what + ": not UTF-8 (expected: a UTF-8 string)");
    }
  }
}
