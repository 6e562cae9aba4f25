package dev.vdisk.nbd.client;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.nbd.protocol.OptionCodec;
import dev.vdisk.nbd.protocol.OptionCodec.BlockSizes;
import dev.vdisk.nbd.protocol.OptionCodec.ExportFacts;
import dev.vdisk.nbd.protocol.OptionCodec.OptionReplyHeader;
import dev.vdisk.nbd.protocol.OptionDataException;
import dev.vdisk.nbd.protocol.ProtocolException;
import dev.vdisk.nbd.wire.ChannelWire;
import dev.vdisk.nbd.wire.Wire;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The client's side of fixed newstyle negotiation, as QEMU's client runs it: STARTTLS when asked, structured
 * replies, the {@code base:allocation} context, then {@code NBD_OPT_GO} with the export's name (falling back to
 * {@code NBD_OPT_EXPORT_NAME} for a server that has no GO); or, for a listing, the exports' descriptions ({@link
 * #list}). Every reply is validated; replies longer than
 * {@link #MAX_REPLY} are refused, so a hostile server cannot make the client allocate without bound.
 */
final class NbdHandshake {
  /** The longest option reply accepted: a 4 KiB string with some framing, with room to spare. */
  static final int MAX_REPLY = 64 << 10;
  /** The most exports, and contexts per export, {@link #list} keeps. */
  static final int MAX_LISTED = 4096;

  /**
   * What negotiation found out.
   *
   * @param wire the stream to go on with (TLS after STARTTLS)
   * @param size the export's size
   * @param flags its transmission flags
   * @param blockSizes the server's block sizes (1, 4096, 32 MiB where it says none)
   * @param structured structured replies are on
   * @param allocationContext the id of {@code base:allocation}, or -1 without it
   */
  record Result(Wire wire, long size, int flags, BlockSizes blockSizes, boolean structured, int allocationContext) {}

  private final NbdTarget target;
  private Wire wire;
  /** The server leaves out the 124 zero bytes of an {@code NBD_OPT_EXPORT_NAME} reply; known after {@link #greet}. */
  private boolean noZeroes;

  private NbdHandshake(NbdTarget target, Wire wire) {
    this.target = target;
    this.wire = wire;
  }

  /** Negotiates on a connected {@code plain} wire. @throws IOException one line naming the target and what failed */
  static Result run(ChannelWire plain, NbdTarget target, NbdClientOptions options) throws IOException {
    NbdHandshake h = new NbdHandshake(target, plain);
    try {
      return h.negotiate(plain, options);
    } catch (ProtocolException | OptionDataException e) {
      throw failure(target, BlockError.EIO, "not an NBD server, or a broken one: " + e.getMessage());
    }
  }

  /**
   * Lists the server's exports on a connected {@code plain} wire, as {@code qemu-nbd --list} does: {@code
   * NBD_OPT_LIST}, then per export {@code NBD_OPT_INFO} and (with structured replies) {@code
   * NBD_OPT_LIST_META_CONTEXT}, then {@code NBD_OPT_ABORT}. At most {@link #MAX_LISTED} exports and as many contexts
   * each are kept, so a hostile server cannot make the client allocate without bound.
   *
   * @throws IOException one line naming the target and what failed
   */
  static List<ExportListing> list(ChannelWire plain, NbdTarget target, NbdClientOptions options) throws IOException {
    NbdHandshake h = new NbdHandshake(target, plain);
    try {
      h.greet(plain, options);
      return h.listExports();
    } catch (ProtocolException | OptionDataException e) {
      throw failure(target, BlockError.EIO, "not an NBD server, or a broken one: " + e.getMessage());
    }
  }

  private List<ExportListing> listExports() throws IOException, ProtocolException, OptionDataException {
    boolean structured = replyAcked(NBD_OPT_STRUCTURED_REPLY, ByteBuffer.allocate(0));
    List<String[]> named = new ArrayList<>();
    OptionReplyHeader r = option(NBD_OPT_LIST, ByteBuffer.allocate(0));
    for (; r.type() == NBD_REP_SERVER; r = reply(NBD_OPT_LIST)) {
      String[] server = OptionCodec.decodeServerPayload(payload(r));
      if (named.size() == MAX_LISTED) {
        throw failure(target, BlockError.EIO, "more than " + MAX_LISTED + " exports listed (expected: fewer)");
      }
      named.add(server);
    }
    ByteBuffer data = payload(r);
    if (r.type() != NBD_REP_ACK) {
      throw failure(target, BlockError.EIO, "the server refused to list its exports: " + describe(r, data));
    }
    List<ExportListing> out = new ArrayList<>();
    for (String[] e : named) {
      out.add(info(e[0], e[1], structured));
    }
    wire.writeFully(OptionCodec.optionRequest(NBD_OPT_ABORT, ByteBuffer.allocate(0)));
    return out;
  }

  /** One listed export's {@code NBD_OPT_INFO} and meta contexts. */
  private ExportListing info(String name, String description, boolean structured)
      throws IOException, ProtocolException, OptionDataException {
    OptionReplyHeader r = option(NBD_OPT_INFO, OptionCodec.infoRequest(name, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE));
    ExportFacts facts = null;
    BlockSizes sizes = null;
    for (; r.type() == NBD_REP_INFO; r = reply(NBD_OPT_INFO)) {
      ByteBuffer data = payload(r);
      switch (OptionCodec.infoType(data)) {
        case NBD_INFO_EXPORT -> facts = OptionCodec.decodeInfoExport(data);
        case NBD_INFO_BLOCK_SIZE -> sizes = OptionCodec.decodeInfoBlockSize(data);
        case NBD_INFO_DESCRIPTION -> description = OptionCodec.decodeInfoString(data);
        default -> { } // the name, and unknown types, are to be ignored
      }
    }
    ByteBuffer data = payload(r);
    if (r.type() != NBD_REP_ACK || facts == null) {
      throw failure(target, BlockError.EIO, "no information on export '" + name + "': "
          + (r.type() != NBD_REP_ACK ? describe(r, data) : "NBD_OPT_INFO acknowledged without NBD_INFO_EXPORT"));
    }
    List<String> contexts = structured ? metaContexts(name) : List.of();
    return new ExportListing(name, description, facts.size(), facts.transmissionFlags(),
        sizes == null ? 0 : sizes.minimum(), sizes == null ? 0 : sizes.preferred(), sizes == null ? 0 : sizes.maximum(),
        contexts);
  }

  /**
   * The export's meta contexts: every one the server lists for no query, and, if none of them is a {@code qemu:}
   * one, those it lists for {@code qemu:} (QEMU 3.0 servers leave them out of the first answer; QEMU's client asks
   * the same way).
   */
  private List<String> metaContexts(String export) throws IOException, ProtocolException, OptionDataException {
    List<String> out = new ArrayList<>();
    collectContexts(export, out);
    if (!out.isEmpty() && out.stream().noneMatch(c -> c.startsWith("qemu:"))) {
      collectContexts(export, out, "qemu:");
    }
    return out;
  }

  private void collectContexts(String export, List<String> out, String... queries)
      throws IOException, ProtocolException, OptionDataException {
    OptionReplyHeader r = option(NBD_OPT_LIST_META_CONTEXT, OptionCodec.metaContextRequest(export, queries));
    for (; r.type() == NBD_REP_META_CONTEXT; r = reply(NBD_OPT_LIST_META_CONTEXT)) {
      String name = OptionCodec.decodeMetaContext(payload(r)).name();
      if (out.size() == MAX_LISTED) {
        throw failure(target, BlockError.EIO, "more than " + MAX_LISTED + " meta contexts listed for export '" + export
            + "' (expected: fewer)");
      }
      out.add(name);
    }
    payload(r); // an ACK, or an error: no contexts (a server without them)
  }

  /** The greeting, the client's flags and, when the target asks for it, STARTTLS. */
  private void greet(ChannelWire plain, NbdClientOptions options) throws IOException, ProtocolException {
    int serverFlags = OptionCodec.decodeGreeting(read(18));
    if ((serverFlags & NBD_FLAG_FIXED_NEWSTYLE) == 0) {
      throw failure(target, BlockError.ENOTSUP, "the server does not speak fixed newstyle NBD (expected: a server such "
          + "as qemu-nbd, nbdkit or vdisk serve)");
    }
    noZeroes = (serverFlags & NBD_FLAG_NO_ZEROES) != 0;
    wire.writeFully(OptionCodec.clientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0)));
    if (target.tls()) {
      if (options.tls() == null) {
        throw failure(target, BlockError.EINVAL, "TLS asked for but no credentials given (expected: --object "
            + "tls-creds-x509,id=ID,endpoint=client,dir=DIR with tls-creds=ID, or ?tls-certificates=DIR)");
      }
      OptionReplyHeader r = option(NBD_OPT_STARTTLS, ByteBuffer.allocate(0));
      ByteBuffer data = payload(r);
      if (r.type() != NBD_REP_ACK) {
        throw failure(target, BlockError.ENOTSUP, "the server refused TLS: " + describe(r, data));
      }
      String host = options.tlsHostname() != null ? options.tlsHostname() : target.host();
      try {
        wire = plain.startTls(options.tls().newEngine(host, target.port()));
      } catch (IOException e) {
        throw failure(target, BlockError.EIO, "TLS handshake failed: " + e.getMessage());
      }
    }
  }

  private Result negotiate(ChannelWire plain, NbdClientOptions options) throws IOException, ProtocolException, OptionDataException {
    greet(plain, options);
    boolean structured = replyAcked(NBD_OPT_STRUCTURED_REPLY, ByteBuffer.allocate(0));
    int allocation = structured ? allocationContext() : -1;
    Result r = go(structured, allocation);
    return r != null ? r : exportName(structured, allocation);
  }

  /** Sends an option that takes an ACK; true if acknowledged, false if the server does not know it. */
  private boolean replyAcked(int option, ByteBuffer data) throws IOException, ProtocolException {
    OptionReplyHeader r = option(option, data);
    ByteBuffer payload = payload(r);
    if (r.type() == NBD_REP_ACK) {
      return true;
    }
    if (r.isError()) {
      return false;
    }
    throw new ProtocolException("option " + option + ": reply type " + r.type() + " (expected: an ACK or an error)");
  }

  private int allocationContext() throws IOException, ProtocolException, OptionDataException {
    OptionReplyHeader r = option(NBD_OPT_SET_META_CONTEXT, OptionCodec.metaContextRequest(target.export(), BASE_ALLOCATION));
    int id = -1;
    while (r.type() == NBD_REP_META_CONTEXT) {
      OptionCodec.MetaContext c = OptionCodec.decodeMetaContext(payload(r));
      if (c.name().equals(BASE_ALLOCATION)) {
        id = c.id();
      }
      r = reply(NBD_OPT_SET_META_CONTEXT);
    }
    ByteBuffer data = payload(r);
    if (r.type() == NBD_REP_ERR_UNKNOWN) {
      throw unknownExport(data, r);
    }
    return r.type() == NBD_REP_ACK ? id : -1;
  }

  /** {@code NBD_OPT_GO}; null if the server does not know GO. */
  private Result go(boolean structured, int allocation) throws IOException, ProtocolException, OptionDataException {
    OptionReplyHeader r = option(NBD_OPT_GO, OptionCodec.infoRequest(target.export(), NBD_INFO_BLOCK_SIZE));
    ExportFacts facts = null;
    BlockSizes sizes = new BlockSizes(1, 4096, DEFAULT_MAX_PAYLOAD);
    while (r.type() == NBD_REP_INFO) {
      ByteBuffer data = payload(r);
      switch (OptionCodec.infoType(data)) {
        case NBD_INFO_EXPORT -> facts = OptionCodec.decodeInfoExport(data);
        case NBD_INFO_BLOCK_SIZE -> sizes = OptionCodec.decodeInfoBlockSize(data);
        default -> { } // names and descriptions are for humans; unknown types are to be ignored
      }
      r = reply(NBD_OPT_GO);
    }
    ByteBuffer data = payload(r);
    switch (r.type()) {
      case NBD_REP_ACK -> {
        if (facts == null) {
          throw new ProtocolException("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT");
        }
        return new Result(wire, facts.size(), facts.transmissionFlags(), sizes, structured, allocation);
      }
      case NBD_REP_ERR_UNSUP -> {
        return null;
      }
      case NBD_REP_ERR_UNKNOWN -> throw unknownExport(data, r);
      case NBD_REP_ERR_TLS_REQD -> throw failure(target, BlockError.EPERM, "the server requires TLS (expected: an "
          + "nbds:// name, or tls-creds= with a tls-creds-x509 object)");
      default -> throw failure(target, BlockError.EIO, "the server refused export '" + target.export() + "': "
          + describe(r, data));
    }
  }

  /** The old way in, {@code NBD_OPT_EXPORT_NAME}: no reply on failure (the server just closes), no block sizes. */
  private Result exportName(boolean structured, int allocation) throws IOException {
    wire.writeFully(OptionCodec.optionRequest(NBD_OPT_EXPORT_NAME,
        ByteBuffer.wrap(target.export().getBytes(java.nio.charset.StandardCharsets.UTF_8))));
    ByteBuffer b;
    try {
      b = read(noZeroes ? 10 : 134);
    } catch (java.io.EOFException e) {
      throw unknownExport(ByteBuffer.allocate(0), null);
    }
    long size = b.getLong();
    if (size < 0) {
      throw failure(target, BlockError.EIO, "export size " + Long.toUnsignedString(size) + " (expected: < 2^63)");
    }
    return new Result(wire, size, Short.toUnsignedInt(b.getShort()), new BlockSizes(1, 4096, DEFAULT_MAX_PAYLOAD),
        structured, allocation);
  }

  private BlockDeviceException unknownExport(ByteBuffer data, OptionReplyHeader r) {
    String detail = r == null ? "" : ": " + describe(r, data);
    return failure(target, BlockError.EINVAL, "no export '" + target.export() + "' on the server" + detail
        + " (expected: a name nbdinfo --list shows)");
  }

  private OptionReplyHeader option(int option, ByteBuffer data) throws IOException, ProtocolException {
    wire.writeFully(OptionCodec.optionRequest(option, data));
    return reply(option);
  }

  private OptionReplyHeader reply(int option) throws IOException, ProtocolException {
    OptionReplyHeader r = OptionCodec.decodeOptionReplyHeader(read(OPTION_REPLY_HEADER_SIZE));
    if (r.option() != option) {
      throw new ProtocolException("reply to option " + r.option() + " (expected: " + option + ")");
    }
    if (r.length() > MAX_REPLY) {
      throw new ProtocolException("option reply of " + r.length() + " bytes (expected: at most " + MAX_REPLY + ")");
    }
    return r;
  }

  private ByteBuffer payload(OptionReplyHeader r) throws IOException {
    return read((int) r.length());
  }

  private static String describe(OptionReplyHeader r, ByteBuffer data) {
    String message = OptionCodec.decodeErrorMessage(data);
    String type = switch (r.type()) {
      case NBD_REP_ERR_UNSUP -> "NBD_REP_ERR_UNSUP";
      case NBD_REP_ERR_POLICY -> "NBD_REP_ERR_POLICY";
      case NBD_REP_ERR_INVALID -> "NBD_REP_ERR_INVALID";
      case NBD_REP_ERR_PLATFORM -> "NBD_REP_ERR_PLATFORM";
      case NBD_REP_ERR_TLS_REQD -> "NBD_REP_ERR_TLS_REQD";
      case NBD_REP_ERR_UNKNOWN -> "NBD_REP_ERR_UNKNOWN";
      case NBD_REP_ERR_SHUTDOWN -> "NBD_REP_ERR_SHUTDOWN";
      case NBD_REP_ERR_BLOCK_SIZE_REQD -> "NBD_REP_ERR_BLOCK_SIZE_REQD";
      case NBD_REP_ERR_TOO_BIG -> "NBD_REP_ERR_TOO_BIG";
      default -> String.format("reply type 0x%08x", r.type());
    };
    return message.isEmpty() ? type : message + " (" + type + ")";
  }

  private ByteBuffer read(int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    wire.readFully(b);
    return b.flip();
  }

  /** An error about {@code target}: its name, then what happened. */
  static BlockDeviceException failure(NbdTarget target, BlockError error, String what) {
    return new BlockDeviceException(error, target.name() + ": " + what);
  }
}
