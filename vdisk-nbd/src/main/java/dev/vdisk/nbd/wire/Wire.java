package dev.vdisk.nbd.wire;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * A connection's byte stream. Reads come from one thread (the connection's reader); writes from any thread
 * but never concurrently (the caller holds the reply lock).
 */
public interface Wire extends Closeable {
  /**
   * Fills {@code dst} to its limit.
   *
   * @throws java.io.EOFException if the peer closed the stream first
   */
  void readFully(ByteBuffer dst) throws IOException;

  /**
   * Reads the next {@code n} bytes of the stream and returns them in place, in this wire's own read-ahead buffer: a
   * buffer whose position to limit are those bytes (its position need not be 0), so that the caller can use them
   * without copying them out (a WRITE's payload goes from there to the file). The view and its bytes stay valid only
   * until the next call that reads from this wire; the caller must not keep it longer, nor write to it. Returns
   * null, reading nothing, if this wire does not hold {@code n} bytes in a buffer of its own (more than its
   * read-ahead, or no read-ahead at all): then the caller reads them with {@link #readFully}.
   *
   * @throws java.io.EOFException if the peer closed the stream first
   */
  default ByteBuffer readView(int n) throws IOException {
    return null;
  }

  /**
   * Reads at least {@code min} bytes into {@code dst} and at most its remaining bytes: those already received first,
   * then as many as the peer has sent, waiting only while fewer than {@code min} have come. The caller limits
   * {@code dst} to bytes that belong to it (the rest of a payload), since every byte up to the limit may be taken.
   * Returns the number read. The default fills {@code dst} ({@link #readFully}): a wire that cannot tell what has
   * arrived hands out whole buffers, not the minimum (a streamed WRITE would else go to the device a page at a time).
   *
   * @param min at most {@code dst.remaining()}
   * @throws java.io.EOFException if the peer closed the stream first
   */
  default int readAtLeast(ByteBuffer dst, int min) throws IOException {
    int n = dst.remaining();
    readFully(dst);
    return n;
  }

  /** Writes every byte of {@code srcs}, in order. */
  void writeFully(ByteBuffer... srcs) throws IOException;

  /**
   * Bytes already received and not yet read: a {@link #readFully} of at most this many returns without waiting
   * for the peer.
   */
  int buffered();

  /** Whether {@link #transferFully} works: the bytes go to the peer unchanged (no TLS). */
  default boolean sendsFiles() {
    return false;
  }

  /**
   * Writes {@code count} bytes of {@code file} from {@code position}, straight from the host's page cache (sendfile).
   *
   * @throws java.io.EOFException if the file ends first; the stream is then broken (part of a message went out)
   * @throws UnsupportedOperationException unless {@link #sendsFiles}
   */
  default void transferFully(FileChannel file, long position, long count) throws IOException {
    throw new UnsupportedOperationException("transferFully on " + getClass().getSimpleName());
  }

  /**
   * The socket's file descriptor, where the bytes of this wire are the socket's own (no TLS) and the JDK gives it; -1
   * otherwise. For a wait on it beside the disk's ({@link dev.vdisk.block.RequestQueue#awaitReadable}); reads still
   * go through this wire.
   */
  default int socket() {
    return -1;
  }

  /** Stops reading: a blocked or later {@link #readFully} sees end of stream. Writes still work. */
  void shutdownInput() throws IOException;

  /** The peer, for logs. */
  String peer();
}
