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

  /** Stops reading: a blocked or later {@link #readFully} sees end of stream. Writes still work. */
  void shutdownInput() throws IOException;

  /** The peer, for logs. */
  String peer();
}
