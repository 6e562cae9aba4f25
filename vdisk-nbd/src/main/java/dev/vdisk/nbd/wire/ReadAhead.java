package dev.vdisk.nbd.wire;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * The read side of a {@link ChannelWire}: reads from a blocking channel through one direct buffer, each read taking
 * as many bytes as the channel has, so that a client that pipelines requests costs one system call per window of them,
 * not one per header or payload. Callers take bytes by copy ({@link #readFully}) or in place ({@link #readView}).
 * Used by one thread at a time.
 */
final class ReadAhead {
  private final ReadableByteChannel in;
  /** Bytes read and not yet taken: position to limit. */
  private final ByteBuffer ahead;
  /** What {@link #readView} returns: one view of {@link #ahead}, moved on each call (no allocation per request). */
  private final ByteBuffer view;
  private final int directMin;

  /**
   * @param capacity bytes of the buffer: the most one read takes, and the longest {@link #readView}
   * @param directMin a {@link #readFully} of at least this many bytes (beyond those read ahead) reads straight into
   *     the caller's buffer
   */
  ReadAhead(ReadableByteChannel in, int capacity, int directMin) {
    this.in = in;
    this.ahead = ByteBuffer.allocateDirect(capacity).flip();
    this.view = ahead.duplicate();
    this.directMin = directMin;
  }

  /**
   * Fills {@code dst} to its limit.
   *
   * @throws EOFException if the channel ended first
   */
  void readFully(ByteBuffer dst) throws IOException {
    readAtLeast(dst, dst.remaining());
  }

  /**
   * Reads at least {@code min} bytes into {@code dst} and at most its remaining bytes ({@link Wire#readAtLeast}'s
   * contract): those read ahead first, then each read taking what the channel has, so that a long payload is taken as
   * it arrives; straight into {@code dst} while it has room for at least the direct minimum, else through the
   * read-ahead as {@link #readFully} does (the requests behind a payload's tail come in with it).
   *
   * @throws EOFException if the channel ended first
   */
  int readAtLeast(ByteBuffer dst, int min) throws IOException {
    int start = dst.position();
    take(dst);
    while (dst.position() - start < min) {
      if (dst.remaining() >= directMin) {
        readSome(dst);
      } else {
        ahead.clear();
        try {
          readSome(ahead);
        } finally {
          ahead.flip();
        }
        take(dst);
      }
    }
    return dst.position() - start;
  }

  /**
   * The next {@code n} bytes in place ({@link Wire#readView}'s contract), or null, reading nothing, if {@code n} is
   * more than the buffer holds. Bytes already read ahead are used where they are; the rest are read behind them
   * (moving the unread bytes to the front first where the buffer's tail is too short), as many as the channel has,
   * so that the requests behind this payload come in with it.
   *
   * @throws EOFException if the channel ended first
   */
  ByteBuffer readView(int n) throws IOException {
    if (n > ahead.capacity()) {
      return null;
    }
    if (ahead.remaining() < n) {
      if (ahead.capacity() - ahead.position() < n) {
        ahead.compact().flip();
      }
      int start = ahead.position();
      ahead.position(ahead.limit()).limit(ahead.capacity());
      try {
        while (ahead.position() - start < n) {
          readSome(ahead);
        }
      } finally {
        ahead.limit(ahead.position()).position(start);
      }
    }
    int at = ahead.position();
    ahead.position(at + n);
    return view.clear().position(at).limit(at + n);
  }

  /** Bytes read and not yet taken: at most this many are taken without waiting for the channel. */
  int buffered() {
    return ahead.remaining();
  }

  /** The bytes read and not yet taken (for a layer that takes the stream over, such as TLS); this buffer is not used again. */
  ByteBuffer unread() {
    return ahead;
  }

  /** Copies as many bytes read ahead as {@code dst} takes. */
  private void take(ByteBuffer dst) {
    int n = Math.min(ahead.remaining(), dst.remaining());
    if (n > 0) {
      dst.put(dst.position(), ahead, ahead.position(), n).position(dst.position() + n);
      ahead.position(ahead.position() + n);
    }
  }

  private void readSome(ByteBuffer dst) throws IOException {
    if (in.read(dst) < 0) {
      throw new EOFException("peer closed the connection");
    }
  }
}
