package dev.vdisk.nbd.wire;

import dev.vdisk.io.internal.SocketDescriptor;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLEngine;

/**
 * A {@link Wire} over a blocking {@link SocketChannel}, TCP or unix.
 *
 * <p>Small reads (request headers, option headers, payloads below 64 KiB) go through a read-ahead buffer
 * so that a client that pipelines many requests costs one system call per batch, not one per header; larger payloads
 * are read straight into the caller's buffer. A payload that the caller uses in place ({@link #readView})
 * is not copied out of the read-ahead at all. The read-ahead holds sixteen 4 KiB writes with their headers (QEMU's
 * client keeps at most 16 requests in flight), so that one read takes a whole window of them.
 *
 * <p>On TCP, Nagle's algorithm is off (TCP_NODELAY). This is the whole cause of the 40 ms stalls that
 * QEMU's client sees against a server that leaves Nagle on: every reply is smaller than the loopback MSS,
 * so with one reply unacknowledged Nagle holds back the next, and QEMU's client, which has no request to
 * send until replies arrive, delays its ACK by up to 40 ms. Measured here with {@code qemu-img bench -d 16}:
 * Nagle on, about 370 IOPS; TCP_NODELAY, thousands; adding TCP_QUICKACK changed nothing.
 */
public final class ChannelWire implements Wire {
  static final int READ_AHEAD = 128 << 10;
  /** A {@link #readFully} of at least this many bytes reads straight into the caller's buffer, not through the read-ahead. */
  private static final int DIRECT_READ_MIN = 64 << 10;
  private static final int STALL_CHUNK = 4096;

  private final SocketChannel channel;
  private final ReadAhead in;
  private final String peer;
  private final int socket;
  /** Bytes of a transfer that waits for room in the socket ({@link #transferFully}); made on first use. */
  private ByteBuffer stall;

  public ChannelWire(SocketChannel channel) throws IOException {
    this.channel = channel;
    this.in = new ReadAhead(channel, READ_AHEAD, DIRECT_READ_MIN);
    this.socket = SocketDescriptor.of(channel);
    boolean tcp = !(channel.getLocalAddress() instanceof java.net.UnixDomainSocketAddress);
    String p;
    try {
      p = String.valueOf(channel.getRemoteAddress());
    } catch (IOException e) {
      p = "unknown";
    }
    if (tcp) {
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
    }
    this.peer = tcp ? p.replaceFirst("^/", "") : "unix:" + (p.isEmpty() ? "anonymous" : p);
  }

  @Override
  public void readFully(ByteBuffer dst) throws IOException {
    in.readFully(dst);
  }

  /** {@inheritDoc} Payloads up to {@link #READ_AHEAD} bytes (see {@link ReadAhead#readView}). */
  @Override
  public ByteBuffer readView(int n) throws IOException {
    return in.readView(n);
  }

  @Override
  public int readAtLeast(ByteBuffer dst, int min) throws IOException {
    return in.readAtLeast(dst, min);
  }

  @Override
  public void writeFully(ByteBuffer... srcs) throws IOException {
    if (srcs.length == 1) { // a plain write: the gathering one sets up an iovec and a releaser on every call
      while (srcs[0].hasRemaining()) {
        channel.write(srcs[0]);
      }
      return;
    }
    while (anyRemaining(srcs)) {
      channel.write(srcs);
    }
  }

  @Override
  public int buffered() {
    return in.buffered();
  }

  @Override
  public int socket() {
    return socket;
  }

  @Override
  public boolean sendsFiles() {
    return true;
  }

  /**
   * {@link FileChannel#transferTo}, sendfile on Linux. On a blocking socket (the server's, which only platform threads
   * use) one call sends the whole range, waiting for room in the kernel. On a non-blocking one (a virtual thread's
   * socket is non-blocking underneath) transferTo returns 0 where the socket is full, rather than waiting; then the
   * next few bytes go through a plain write, which waits for room (parking the thread), and sendfile goes on. The calling thread's interrupt is set
   * aside for the call: a channel closes itself when a thread blocked in it is interrupted, and the file's channel
   * belongs to its device. Called under the reply lock, one thread at a time.
   */
  @Override
  public void transferFully(FileChannel file, long position, long count) throws IOException {
    boolean interrupted = Thread.interrupted();
    try {
      long pos = position;
      long end = position + count;
      while (pos < end) {
        long n = file.transferTo(pos, end - pos, channel);
        pos += n > 0 ? n : writeThrough(file, pos, end);
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Copies up to {@link #STALL_CHUNK} bytes of {@code file} at {@code pos} to the socket, waiting for room; returns how many. */
  private int writeThrough(FileChannel file, long pos, long end) throws IOException {
    if (stall == null) {
      stall = ByteBuffer.allocateDirect(STALL_CHUNK);
    }
    stall.clear().limit((int) Math.min(STALL_CHUNK, end - pos));
    while (stall.hasRemaining()) {
      if (file.read(stall, pos + stall.position()) < 0) {
        throw new EOFException("file ended at " + (pos + stall.position()) + " of a transfer to " + end);
      }
    }
    stall.flip();
    while (stall.hasRemaining()) {
      channel.write(stall);
    }
    return stall.limit();
  }

  private static boolean anyRemaining(ByteBuffer[] srcs) {
    for (ByteBuffer b : srcs) {
      if (b.hasRemaining()) {
        return true;
      }
    }
    return false;
  }

  /**
   * This connection upgraded to TLS with {@code engine} (after {@code NBD_OPT_STARTTLS} was acknowledged): the
   * handshake runs now. Bytes this wire read ahead go to the TLS layer; this wire is not used again.
   */
  public Wire startTls(SSLEngine engine) throws IOException {
    return new TlsWire(channel, engine, peer, in.unread());
  }

  @Override
  public void shutdownInput() throws IOException {
    channel.shutdownInput();
  }

  @Override
  public String peer() {
    return peer;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
