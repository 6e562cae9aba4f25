package dev.vdisk.nbd.wire;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

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

  /** Stops reading: a blocked or later {@link #readFully} sees end of stream. Writes still work. */
  void shutdownInput() throws IOException;

  /** The peer, for logs. */
  String peer();
}
