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

  // The client's side of the handshake.

  /** An option reply's header: the option answered, the reply type and the length of the data that follows. */
  public record OptionReplyHeader(int option, int type, long length) {
    /** True for the error reply types (bit 31 set). */
    public boolean isError() {
      return type < 0;
    }
  }

  /** {@link NbdProtocol#NBD_INFO_BLOCK_SIZE}'s three sizes. */
  public record BlockSizes(int minimum, int preferred, int maximum) {}

  /** {@link NbdProtocol#NBD_INFO_EXPORT}: the export's size and transmission flags. */
  public record ExportFacts(long size, int transmissionFlags) {}

  /** One {@link NbdProtocol#NBD_REP_META_CONTEXT}: the id the server gave the context and its name. */
  public record MetaContext(int id, String name) {}

  /**
   * The server's greeting (18 bytes): {@code NBDMAGIC}, {@code IHAVEOPT}, then the handshake flags, returned.
   *
   * @throws ProtocolException if the magics say this is no newstyle NBD server (an oldstyle one included)
   */
  public static int decodeGreeting(ByteBuffer b) throws ProtocolException {
    long magic = b.getLong();
    long opt = b.getLong();
    if (magic != NBDMAGIC || opt != IHAVEOPT) {
      throw new ProtocolException(String.format("greeting: 0x%016x 0x%016x (expected: NBDMAGIC IHAVEOPT, a newstyle NBD server)",
          magic, opt));
    }
    return Short.toUnsignedInt(b.getShort());
  }

  /** The client's 32 flag bits. */
  public static ByteBuffer clientFlags(int flags) {
    return ByteBuffer.allocate(4).putInt(flags).flip();
  }

  /** An option request: {@code IHAVEOPT}, the option, the data's length, the data. */
  public static ByteBuffer optionRequest(int option, ByteBuffer data) {
    return ByteBuffer.allocate(OPTION_HEADER_SIZE + data.remaining()).putLong(IHAVEOPT).putInt(option)
        .putInt(data.remaining()).put(data.duplicate()).flip();
  }

  /** The 20-byte header of an option reply. @throws ProtocolException if the magic is not {@code NBD_REP_MAGIC} */
  public static OptionReplyHeader decodeOptionReplyHeader(ByteBuffer b) throws ProtocolException {
    long magic = b.getLong();
    if (magic != NBD_REP_MAGIC) {
      throw new ProtocolException(String.format("option reply magic: 0x%016x (expected: 0x%016x)", magic, NBD_REP_MAGIC));
    }
    return new OptionReplyHeader(b.getInt(), b.getInt(), Integer.toUnsignedLong(b.getInt()));
  }

  /** {@link NbdProtocol#NBD_OPT_GO}/{@link NbdProtocol#NBD_OPT_INFO} data: the export's name and the information asked for. */
  public static ByteBuffer infoRequest(String exportName, int... infoTypes) {
    byte[] n = exportName.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infoTypes.length).putInt(n.length).put(n)
        .putShort((short) infoTypes.length);
    for (int t : infoTypes) {
      b.putShort((short) t);
    }
    return b.flip();
  }

  /** {@link NbdProtocol#NBD_OPT_SET_META_CONTEXT}/{@link NbdProtocol#NBD_OPT_LIST_META_CONTEXT} data. */
  public static ByteBuffer metaContextRequest(String exportName, String... queries) {
    byte[] n = exportName.getBytes(StandardCharsets.UTF_8);
    List<byte[]> qs = new ArrayList<>();
    int length = 4 + n.length + 4;
    for (String q : queries) {
      byte[] qb = q.getBytes(StandardCharsets.UTF_8);
      qs.add(qb);
      length += 4 + qb.length;
    }
    ByteBuffer b = ByteBuffer.allocate(length).putInt(n.length).put(n).putInt(queries.length);
    for (byte[] qb : qs) {
      b.putInt(qb.length).put(qb);
    }
    return b.flip();
  }

  /** The information type of an {@link NbdProtocol#NBD_REP_INFO} payload (its first two bytes). */
  public static int infoType(ByteBuffer payload) throws OptionDataException {
    if (payload.remaining() < 2) {
      throw new OptionDataException("NBD_REP_INFO: " + payload.remaining() + " bytes (expected: at least 2)");
    }
    return Short.toUnsignedInt(payload.getShort(payload.position()));
  }

  /** {@link NbdProtocol#NBD_INFO_EXPORT}'s size (unsigned, at most {@link Long#MAX_VALUE} accepted) and transmission flags. */
  public static ExportFacts decodeInfoExport(ByteBuffer payload) throws OptionDataException {
    if (payload.remaining() != 12) {
      throw new OptionDataException("NBD_INFO_EXPORT: " + payload.remaining() + " bytes (expected: 12)");
    }
    long size = payload.getLong(payload.position() + 2);
    if (size < 0) {
      throw new OptionDataException("export size: " + Long.toUnsignedString(size) + " (expected: at most 2^63 - 1)");
    }
    return new ExportFacts(size, Short.toUnsignedInt(payload.getShort(payload.position() + 10)));
  }

  /** {@link NbdProtocol#NBD_INFO_BLOCK_SIZE}, checked as the protocol requires (powers of two, min <= preferred <= max or so). */
  public static BlockSizes decodeInfoBlockSize(ByteBuffer payload) throws OptionDataException {
    if (payload.remaining() != 14) {
      throw new OptionDataException("NBD_INFO_BLOCK_SIZE: " + payload.remaining() + " bytes (expected: 14)");
    }
    int p = payload.position();
    int min = payload.getInt(p + 2);
    int pref = payload.getInt(p + 6);
    int max = payload.getInt(p + 10);
    if (min < 1 || min > 64 << 10 || Integer.bitCount(min) != 1 || pref < min || Integer.bitCount(pref) != 1
        || max < min && max != -1) {
      throw new OptionDataException("block sizes: minimum " + Integer.toUnsignedString(min) + ", preferred "
          + Integer.toUnsignedString(pref) + ", maximum " + Integer.toUnsignedString(max)
          + " (expected: powers of two, minimum <= 64 KiB <= preferred, maximum >= minimum)");
    }
    return new BlockSizes(min, pref, max == -1 ? Integer.MAX_VALUE : max);
  }

  /** An {@link NbdProtocol#NBD_REP_SERVER} payload: the export's name and its description ("" where none). */
  public static String[] decodeServerPayload(ByteBuffer payload) throws OptionDataException {
    ByteBuffer b = payload.duplicate();
    if (b.remaining() < 4) {
      throw new OptionDataException("NBD_REP_SERVER: " + b.remaining() + " bytes (expected: at least 4)");
    }
    int n = length32(b, "export name");
    String name = string(b, n, "export name");
    return new String[] {name, string(b, b.remaining(), "export description")};
  }

  /** The text of an {@link NbdProtocol#NBD_INFO_NAME} or {@link NbdProtocol#NBD_INFO_DESCRIPTION} payload. */
  public static String decodeInfoString(ByteBuffer payload) throws OptionDataException {
    ByteBuffer b = payload.duplicate();
    b.position(b.position() + 2);
    return string(b, b.remaining(), "information string");
  }

  /** An {@link NbdProtocol#NBD_REP_META_CONTEXT} payload. */
  public static MetaContext decodeMetaContext(ByteBuffer payload) throws OptionDataException {
    if (payload.remaining() < 4) {
      throw new OptionDataException("NBD_REP_META_CONTEXT: " + payload.remaining() + " bytes (expected: at least 4)");
    }
    ByteBuffer b = payload.duplicate();
    int id = b.getInt();
    return new MetaContext(id, string(b, b.remaining(), "context name"));
  }

  /** The message of an error reply, for humans: UTF-8 where it is, replaced where it is not, at most {@link NbdProtocol#MAX_STRING} bytes. */
  public static String decodeErrorMessage(ByteBuffer payload) {
    ByteBuffer b = payload.duplicate();
    b.limit(b.position() + Math.min(b.remaining(), MAX_STRING));
    return StandardCharsets.UTF_8.decode(b).toString().replaceAll("\\p{Cntrl}", " ").strip();
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
