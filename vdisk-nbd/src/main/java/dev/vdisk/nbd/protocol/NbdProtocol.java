package dev.vdisk.nbd.protocol;

import java.util.Optional;

/**
 * The NBD protocol's numbers, named exactly as in the protocol document ({@code doc/proto.md} of the
 * NetworkBlockDevice/nbd repository) and, for the {@code qemu:} namespace, QEMU's {@code docs/interop/nbd.rst}.
 * Bit flags are given as masks; all values travel in network byte order.
 */
public final class NbdProtocol {
  private NbdProtocol() {}

  // Magic numbers.
  /** ASCII {@code NBDMAGIC}: the first 8 bytes a server sends. */
  public static final long NBDMAGIC = 0x4e42444d41474943L;
  /** ASCII {@code IHAVEOPT}: the newstyle greeting's second magic and the magic of every option request. */
  public static final long IHAVEOPT = 0x49484156454F5054L;
  /** Magic of every option reply. */
  public static final long NBD_REP_MAGIC = 0x3e889045565a9L;
  public static final int NBD_REQUEST_MAGIC = 0x25609513;
  public static final int NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
  public static final int NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

  // Handshake flags (server, 16 bits) and client flags (32 bits).
  public static final int NBD_FLAG_FIXED_NEWSTYLE = 1;
  public static final int NBD_FLAG_NO_ZEROES = 1 << 1;
  public static final int NBD_FLAG_C_FIXED_NEWSTYLE = 1;
  public static final int NBD_FLAG_C_NO_ZEROES = 1 << 1;

  // Transmission flags (16 bits).
  public static final int NBD_FLAG_HAS_FLAGS = 1;
  public static final int NBD_FLAG_READ_ONLY = 1 << 1;
  public static final int NBD_FLAG_SEND_FLUSH = 1 << 2;
  public static final int NBD_FLAG_SEND_FUA = 1 << 3;
  public static final int NBD_FLAG_ROTATIONAL = 1 << 4;
  public static final int NBD_FLAG_SEND_TRIM = 1 << 5;
  public static final int NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
  public static final int NBD_FLAG_SEND_DF = 1 << 7;
  public static final int NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
  public static final int NBD_FLAG_SEND_RESIZE = 1 << 9;
  public static final int NBD_FLAG_SEND_CACHE = 1 << 10;
  public static final int NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

  // Options.
  public static final int NBD_OPT_EXPORT_NAME = 1;
  public static final int NBD_OPT_ABORT = 2;
  public static final int NBD_OPT_LIST = 3;
  public static final int NBD_OPT_STARTTLS = 5;
  public static final int NBD_OPT_INFO = 6;
  public static final int NBD_OPT_GO = 7;
  public static final int NBD_OPT_STRUCTURED_REPLY = 8;
  public static final int NBD_OPT_LIST_META_CONTEXT = 9;
  public static final int NBD_OPT_SET_META_CONTEXT = 10;
  public static final int NBD_OPT_EXTENDED_HEADERS = 11;

  // Option reply types; errors have bit 31 set.
  public static final int NBD_REP_ACK = 1;
  public static final int NBD_REP_SERVER = 2;
  public static final int NBD_REP_INFO = 3;
  public static final int NBD_REP_META_CONTEXT = 4;
  private static final int NBD_REP_FLAG_ERROR = 1 << 31;
  public static final int NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR | 1;
  public static final int NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR | 2;
  public static final int NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR | 3;
  public static final int NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR | 4;
  public static final int NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR | 5;
  public static final int NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR | 6;
  public static final int NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR | 7;
  public static final int NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR | 8;
  public static final int NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR | 9;

  // Information types of NBD_REP_INFO.
  public static final int NBD_INFO_EXPORT = 0;
  public static final int NBD_INFO_NAME = 1;
  public static final int NBD_INFO_DESCRIPTION = 2;
  public static final int NBD_INFO_BLOCK_SIZE = 3;

  // Commands.
  public static final int NBD_CMD_READ = 0;
  public static final int NBD_CMD_WRITE = 1;
  public static final int NBD_CMD_DISC = 2;
  public static final int NBD_CMD_FLUSH = 3;
  public static final int NBD_CMD_TRIM = 4;
  public static final int NBD_CMD_CACHE = 5;
  public static final int NBD_CMD_WRITE_ZEROES = 6;
  public static final int NBD_CMD_BLOCK_STATUS = 7;
  public static final int NBD_CMD_RESIZE = 8;

  // Command flags.
  public static final int NBD_CMD_FLAG_FUA = 1;
  public static final int NBD_CMD_FLAG_NO_HOLE = 1 << 1;
  public static final int NBD_CMD_FLAG_DF = 1 << 2;
  public static final int NBD_CMD_FLAG_REQ_ONE = 1 << 3;
  public static final int NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

  // Structured replies.
  public static final int NBD_REPLY_FLAG_DONE = 1;
  public static final int NBD_REPLY_TYPE_NONE = 0;
  public static final int NBD_REPLY_TYPE_OFFSET_DATA = 1;
  public static final int NBD_REPLY_TYPE_OFFSET_HOLE = 2;
  public static final int NBD_REPLY_TYPE_BLOCK_STATUS = 5;
  public static final int NBD_REPLY_TYPE_ERROR = (1 << 15) | 1;
  public static final int NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) | 2;

  // Error values.
  public static final int NBD_EPERM = 1;
  public static final int NBD_EIO = 5;
  public static final int NBD_ENOMEM = 12;
  public static final int NBD_EINVAL = 22;
  public static final int NBD_ENOSPC = 28;
  public static final int NBD_EOVERFLOW = 75;
  public static final int NBD_ENOTSUP = 95;
  public static final int NBD_ESHUTDOWN = 108;

  /** The errno name of an NBD error value ({@code "EIO"}), or empty for a value the protocol does not define. */
  public static Optional<String> errorName(int error) {
    return Optional.ofNullable(switch (error) {
      case NBD_EPERM -> "EPERM";
      case NBD_EIO -> "EIO";
      case NBD_ENOMEM -> "ENOMEM";
      case NBD_EINVAL -> "EINVAL";
      case NBD_ENOSPC -> "ENOSPC";
      case NBD_EOVERFLOW -> "EOVERFLOW";
      case NBD_ENOTSUP -> "ENOTSUP";
      case NBD_ESHUTDOWN -> "ESHUTDOWN";
      default -> null;
    });
  }

  // Metadata contexts.
  public static final String BASE_ALLOCATION = "base:allocation";
  public static final int NBD_STATE_HOLE = 1;
  public static final int NBD_STATE_ZERO = 1 << 1;
  /** QEMU's context: the whole 32-bit value is the depth in the backing chain that defines the range. */
  public static final String QEMU_ALLOCATION_DEPTH = "qemu:allocation-depth";
  /** QEMU's context prefix for a dirty bitmap, followed by the bitmap's name. */
  public static final String QEMU_DIRTY_BITMAP = "qemu:dirty-bitmap:";

  // Sizes.
  /** Bytes of a request header. */
  public static final int REQUEST_SIZE = 28;
  /** Bytes of a simple reply header. */
  public static final int SIMPLE_REPLY_SIZE = 16;
  /** Bytes of a structured reply chunk header. */
  public static final int CHUNK_HEADER_SIZE = 20;
  /** Bytes of an option request header. */
  public static final int OPTION_HEADER_SIZE = 16;
  /** Bytes of an option reply header. */
  public static final int OPTION_REPLY_HEADER_SIZE = 20;
  /** The longest string (export name, query, message) the protocol allows. */
  public static final int MAX_STRING = 4096;
  /** The largest payload a client should expect any server to take in one request: 32 MiB. */
  public static final int DEFAULT_MAX_PAYLOAD = 32 << 20;
}
