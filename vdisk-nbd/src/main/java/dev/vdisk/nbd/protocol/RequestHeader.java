package dev.vdisk.nbd.protocol;

import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_REQUEST_MAGIC;

import java.nio.ByteBuffer;

/**
 * A request header that a server's reader {@linkplain #decode decodes} each request into, so that reading a request
 * allocates nothing; a request that outlives the next decode (one handed to another thread) takes a {@link #copy}.
 * The fields are those of {@link Request}. Not thread-safe: one thread uses it at a time, and a hand-off to another
 * thread must happen before (as an executor's submission does).
 */
public final class RequestHeader {
  private int flags;
  private int type;
  private long cookie;
  private long offset;
  private long length;

  /**
   * Reads a request header (28 bytes) from {@code b} into this one.
   *
   * @throws ProtocolException if the magic is not {@code NBD_REQUEST_MAGIC}: the stream cannot be resynchronised;
   *     this header is then unchanged
   */
  public RequestHeader decode(ByteBuffer b) throws ProtocolException {
    int magic = b.getInt();
    if (magic != NBD_REQUEST_MAGIC) {
      throw new ProtocolException(String.format("request magic: 0x%08x (expected: 0x%08x NBD_REQUEST_MAGIC)", magic, NBD_REQUEST_MAGIC));
    }
    flags = Short.toUnsignedInt(b.getShort());
    type = Short.toUnsignedInt(b.getShort());
    cookie = b.getLong();
    offset = b.getLong();
    length = Integer.toUnsignedLong(b.getInt());
    return this;
  }

  /** A new header with this one's fields. */
  public RequestHeader copy() {
    RequestHeader c = new RequestHeader();
    c.flags = flags;
    c.type = type;
    c.cookie = cookie;
    c.offset = offset;
    c.length = length;
    return c;
  }

  /** This header as an immutable {@link Request}. */
  public Request toRequest() {
    return new Request(flags, type, cookie, offset, length);
  }

  /** Command flags ({@code NBD_CMD_FLAG_*}). */
  public int flags() {
    return flags;
  }

  /** The command ({@code NBD_CMD_*}). */
  public int type() {
    return type;
  }

  /** The client's handle, echoed in every reply. */
  public long cookie() {
    return cookie;
  }

  /** Unsigned 64 bits; a value above {@link Long#MAX_VALUE} is negative here. */
  public long offset() {
    return offset;
  }

  /** Unsigned 32 bits. */
  public long length() {
    return length;
  }

  /** True if {@code flag} is set. */
  public boolean has(int flag) {
    return (flags & flag) != 0;
  }

  @Override
  public String toString() {
    return toRequest().toString();
  }
}
