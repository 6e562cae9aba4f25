package dev.vdisk.nbd.server;

import dev.vdisk.nbd.wire.ChannelWire;
import dev.vdisk.nbd.wire.Wire;
import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.nbd.protocol.OptionCodec;
import dev.vdisk.nbd.protocol.OptionCodec.InfoRequest;
import dev.vdisk.nbd.protocol.OptionCodec.MetaContextRequest;
import dev.vdisk.nbd.protocol.OptionCodec.OptionHeader;
import dev.vdisk.nbd.protocol.OptionDataException;
import dev.vdisk.nbd.protocol.ProtocolException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

/**
 * The server side of fixed newstyle negotiation, from the greeting to the option that starts transmission
 * ({@code NBD_OPT_GO} or {@code NBD_OPT_EXPORT_NAME}). Options vdisk does not know are answered with
 * {@code NBD_REP_ERR_UNSUP}; bad option data with {@code NBD_REP_ERR_INVALID}; a broken option header ends
 * the connection.
 */
final class Negotiation {
  /** Option data beyond this is not a legitimate option (strings are at most 4 KiB): the client is dropped. */
  static final int MAX_OPTION_DATA = 64 << 10;

  private final ChannelWire plain;
  private Wire wire;
  private boolean tls;
  private final Map<String, Export> exports;
  private final ServerConfig config;
  private boolean noZeroes;
  private boolean structured;
  private List<MetaContext> contexts = List.of();
  private String contextsExport;

  Negotiation(ChannelWire wire, Map<String, Export> exports, ServerConfig config) {
    this.plain = wire;
    this.wire = wire;
    this.exports = exports;
    this.config = config;
  }

  /**
   * Negotiates.
   *
   * @return the session, or null if the client aborted or asked for an export that does not exist with
   *     {@code NBD_OPT_EXPORT_NAME} (which cannot be answered with an error)
   * @throws ProtocolException if the client broke the protocol
   */
  Session run() throws IOException {
    wire.writeFully(OptionCodec.greeting());
    ByteBuffer flags = ByteBuffer.allocate(4);
    wire.readFully(flags);
    noZeroes = (OptionCodec.decodeClientFlags(flags.flip()) & NBD_FLAG_C_NO_ZEROES) != 0;
    ByteBuffer header = ByteBuffer.allocate(OPTION_HEADER_SIZE);
    while (true) {
      wire.readFully(header.clear());
      OptionHeader h = OptionCodec.decodeOptionHeader(header.flip());
      if (h.length() > MAX_OPTION_DATA) {
        throw new ProtocolException("option " + h.option() + " length: " + h.length() + " (expected: at most " + MAX_OPTION_DATA + ")");
      }
      ByteBuffer data = ByteBuffer.allocate((int) h.length());
      wire.readFully(data);
      data.flip();
      if (config.tls() == TlsMode.REQUIRE && !tls && h.option() != NBD_OPT_STARTTLS && h.option() != NBD_OPT_ABORT) {
        if (h.option() == NBD_OPT_EXPORT_NAME) {
          return null; // cannot be answered with an error
        }
        error(h.option(), NBD_REP_ERR_TLS_REQD, "this server requires TLS (expected: NBD_OPT_STARTTLS first)");
        continue;
      }
      try {
        switch (h.option()) {
          case NBD_OPT_EXPORT_NAME -> {
            return exportName(data);
          }
          case NBD_OPT_ABORT -> {
            reply(h.option(), NBD_REP_ACK, ByteBuffer.allocate(0));
            return null;
          }
          case NBD_OPT_GO, NBD_OPT_INFO -> {
            Session s = info(h.option(), OptionCodec.decodeInfoRequest(data));
            if (s != null && h.option() == NBD_OPT_GO) {
              return s;
            }
          }
          case NBD_OPT_LIST -> list(data);
          case NBD_OPT_STRUCTURED_REPLY -> structuredReply(data);
          case NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT -> metaContext(h.option(), data);
          case NBD_OPT_STARTTLS -> startTls(data);
          default -> error(h.option(), NBD_REP_ERR_UNSUP, "option " + h.option() + " is not supported by vdisk");
        }
      } catch (OptionDataException e) {
        if (h.option() == NBD_OPT_EXPORT_NAME) {
          return null; // cannot be answered with an error
        }
        error(h.option(), NBD_REP_ERR_INVALID, e.getMessage());
      }
    }
  }

  /** The wire to go on with: the TLS one after {@code NBD_OPT_STARTTLS}. */
  Wire wire() {
    return wire;
  }

  /** True once TLS is running. */
  boolean tls() {
    return tls;
  }

  private void startTls(ByteBuffer data) throws IOException, OptionDataException {
    if (config.tls() == TlsMode.OFF) {
      error(NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, "TLS is not enabled on this server");
      return;
    }
    if (data.hasRemaining()) {
      throw new OptionDataException("NBD_OPT_STARTTLS data: " + data.remaining() + " bytes (expected: none)");
    }
    if (tls) {
      error(NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS: already running (expected: one NBD_OPT_STARTTLS)");
      return;
    }
    reply(NBD_OPT_STARTTLS, NBD_REP_ACK, ByteBuffer.allocate(0));
    wire = plain.startTls(config.credentials().newEngine());
    tls = true;
    // what was negotiated in plaintext does not carry over (the client renegotiates)
    structured = false;
    contexts = List.of();
    contextsExport = null;
  }

  private Session exportName(ByteBuffer data) throws IOException, OptionDataException {
    Export e = exports.get(OptionCodec.decodeExportName(data));
    if (e == null) {
      return null;
    }
    int flags = e.transmissionFlags(structured, config.maxClients() != 1);
    wire.writeFully(OptionCodec.exportNameReply(e.size(), flags, noZeroes));
    return new Session(e, structured, selectedFor(e), flags);
  }

  private Session info(int option, InfoRequest r) throws IOException {
    Export e = exports.get(r.exportName());
    if (e == null) {
      error(option, NBD_REP_ERR_UNKNOWN, "export '" + r.exportName() + "' does not exist (expected: one of " + exports.keySet() + ")");
      return null;
    }
    int flags = e.transmissionFlags(structured, config.maxClients() != 1);
    reply(option, NBD_REP_INFO, OptionCodec.infoExport(e.size(), flags));
    if (r.infoTypes().contains(NBD_INFO_NAME)) {
      reply(option, NBD_REP_INFO, OptionCodec.infoString(NBD_INFO_NAME, e.name()));
    }
    if (r.infoTypes().contains(NBD_INFO_DESCRIPTION) && !e.description().isEmpty()) {
      reply(option, NBD_REP_INFO, OptionCodec.infoString(NBD_INFO_DESCRIPTION, e.description()));
    }
    // Always sent: the maximum is a limit the server enforces, so clients should know it.
    reply(option, NBD_REP_INFO, OptionCodec.infoBlockSize(e.minimumBlockSize(), e.preferredBlockSize(), config.maxPayload()));
    reply(option, NBD_REP_ACK, ByteBuffer.allocate(0));
    return new Session(e, structured, selectedFor(e), flags);
  }

  /** The selected contexts if they were selected for {@code e}: a selection for another export does not carry over. */
  private List<MetaContext> selectedFor(Export e) {
    return e.name().equals(contextsExport) ? contexts : List.of();
  }

  private void list(ByteBuffer data) throws IOException, OptionDataException {
    if (data.hasRemaining()) {
      throw new OptionDataException("NBD_OPT_LIST data: " + data.remaining() + " bytes (expected: none)");
    }
    for (Export e : exports.values()) {
      reply(NBD_OPT_LIST, NBD_REP_SERVER, OptionCodec.serverPayload(e.name(), e.description()));
    }
    reply(NBD_OPT_LIST, NBD_REP_ACK, ByteBuffer.allocate(0));
  }

  private void structuredReply(ByteBuffer data) throws IOException, OptionDataException {
    if (data.hasRemaining()) {
      throw new OptionDataException("NBD_OPT_STRUCTURED_REPLY data: " + data.remaining() + " bytes (expected: none)");
    }
    if (structured) {
      error(NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID, "structured replies: already negotiated (expected: once)");
      return;
    }
    structured = true;
    reply(NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, ByteBuffer.allocate(0));
  }

  private void metaContext(int option, ByteBuffer data) throws IOException, OptionDataException {
    boolean set = option == NBD_OPT_SET_META_CONTEXT;
    if (set) {
      contexts = List.of(); // a SET replaces the selection even when it fails
      contextsExport = null;
    }
    if (!structured) {
      error(option, NBD_REP_ERR_INVALID, "metadata contexts: structured replies not negotiated (expected: NBD_OPT_STRUCTURED_REPLY first)");
      return;
    }
    MetaContextRequest r = OptionCodec.decodeMetaContextRequest(data);
    if (!exports.containsKey(r.exportName())) {
      error(option, NBD_REP_ERR_UNKNOWN, "export '" + r.exportName() + "' does not exist (expected: one of " + exports.keySet() + ")");
      return;
    }
    if (set) {
      contexts = MetaContext.select(r.queries(), MetaContext.of(exports.get(r.exportName())));
      contextsExport = r.exportName();
      for (MetaContext c : contexts) {
        reply(option, NBD_REP_META_CONTEXT, OptionCodec.metaContextPayload(c.id(), c.contextName()));
      }
    } else {
      for (MetaContext c : MetaContext.list(r.queries(), MetaContext.of(exports.get(r.exportName())))) {
        reply(option, NBD_REP_META_CONTEXT, OptionCodec.metaContextPayload(0, c.contextName()));
      }
    }
    reply(option, NBD_REP_ACK, ByteBuffer.allocate(0));
  }

  private void reply(int option, int type, ByteBuffer payload) throws IOException {
    wire.writeFully(OptionCodec.optionReply(option, type, payload));
  }

  private void error(int option, int type, String message) throws IOException {
    wire.writeFully(OptionCodec.errorReply(option, type, message));
  }
}
