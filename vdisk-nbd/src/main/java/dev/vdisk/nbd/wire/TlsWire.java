package dev.vdisk.nbd.wire;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * A {@link Wire} that speaks TLS over a socket channel, through an {@link SSLEngine}: what
 * {@code NBD_OPT_STARTTLS} upgrades a connection to, on the server's side and on the client's. Reads come from the connection's reader thread and
 * writes from reply threads; the engine allows one wrap and one unwrap at a time concurrently, and the
 * write lock covers every wrap, including those a post-handshake message (a TLS 1.3 key update) needs
 * while reading.
 */
public final class TlsWire implements Wire {
  private final SocketChannel channel;
  private final SSLEngine engine;
  private final String peer;
  private final ReentrantLock writeLock = new ReentrantLock();
  private final ByteBuffer netIn;
  private final ByteBuffer appIn;
  private final ByteBuffer netOut;

  /**
   * Runs the TLS handshake in the engine's mode (server or client, set by whoever made the engine);
   * {@code alreadyRead} holds bytes the plain wire read ahead.
   */
  TlsWire(SocketChannel channel, SSLEngine engine, String peer, ByteBuffer alreadyRead) throws IOException {
    this.channel = channel;
    this.engine = engine;
    this.peer = peer;
    int net = engine.getSession().getPacketBufferSize();
    this.netIn = ByteBuffer.allocateDirect(Math.max(net, alreadyRead.remaining()));
    this.netIn.put(alreadyRead).flip();
    this.appIn = ByteBuffer.allocateDirect(engine.getSession().getApplicationBufferSize()).flip();
    this.netOut = ByteBuffer.allocateDirect(net);
    engine.beginHandshake();
    handshake();
  }

  private void handshake() throws IOException {
    while (true) {
      HandshakeStatus hs = engine.getHandshakeStatus();
      switch (hs) {
        case NEED_WRAP -> wrap(new ByteBuffer[] {ByteBuffer.allocate(0)});
        case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
          boolean more;
          try {
            more = unwrapOnce();
          } catch (SSLException e) {
            sendAlert(); // the engine queued an alert saying why (like "certificate required"): the client reports it
            throw e;
          }
          if (!more) {
            throw new EOFException("peer closed the connection during the TLS handshake");
          }
        }
        case NEED_TASK -> runTasks();
        case FINISHED, NOT_HANDSHAKING -> {
          return;
        }
      }
    }
  }

  private void sendAlert() {
    try {
      wrap(new ByteBuffer[] {ByteBuffer.allocate(0)});
    } catch (IOException ignored) {
      // the alert is a courtesy; the handshake has failed either way
    }
  }

  private void runTasks() {
    Runnable task;
    while ((task = engine.getDelegatedTask()) != null) {
      task.run();
    }
  }

  /**
   * Unwraps one record into {@link #appIn} (reading from the socket as needed).
   *
   * @return false at end of stream or when the peer closed TLS
   */
  private boolean unwrapOnce() throws IOException {
    while (true) {
      appIn.compact();
      SSLEngineResult r;
      try {
        r = engine.unwrap(netIn, appIn);
      } finally {
        appIn.flip();
      }
      switch (r.getStatus()) {
        case OK -> {
          if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
            runTasks();
          }
          if (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
            wrap(new ByteBuffer[] {ByteBuffer.allocate(0)}); // a handshake message, or a reply to a key update
          }
          return true;
        }
        case BUFFER_UNDERFLOW -> {
          netIn.compact();
          int n;
          try {
            n = channel.read(netIn);
          } finally {
            netIn.flip();
          }
          if (n < 0) {
            return false;
          }
        }
        case BUFFER_OVERFLOW -> throw new SSLException("TLS record larger than the application buffer");
        case CLOSED -> {
          return false;
        }
      }
    }
  }

  @Override
  public void readFully(ByteBuffer dst) throws IOException {
    while (dst.hasRemaining()) {
      if (!appIn.hasRemaining() && !unwrapOnce()) {
        throw new EOFException("peer closed the connection");
      }
      int n = Math.min(appIn.remaining(), dst.remaining());
      dst.put(dst.position(), appIn, appIn.position(), n).position(dst.position() + n);
      appIn.position(appIn.position() + n);
    }
  }

  /** Decrypted bytes not yet read (ciphertext still to be unwrapped does not count). */
  @Override
  public int buffered() {
    return appIn.remaining();
  }

  @Override
  public void writeFully(ByteBuffer... srcs) throws IOException {
    wrap(srcs);
  }

  /** Wraps all of {@code srcs} and writes the records; with nothing to send, one handshake/alert step. */
  private void wrap(ByteBuffer[] srcs) throws IOException {
    writeLock.lock();
    try {
      do {
        netOut.clear();
        SSLEngineResult r = engine.wrap(srcs, netOut);
        netOut.flip();
        while (netOut.hasRemaining()) {
          channel.write(netOut);
        }
        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
          if (remaining(srcs)) {
            throw new EOFException("TLS session closed");
          }
          return;
        }
        if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
          runTasks();
        }
      } while (remaining(srcs));
    } finally {
      writeLock.unlock();
    }
  }

  private static boolean remaining(ByteBuffer[] srcs) {
    for (ByteBuffer b : srcs) {
      if (b.hasRemaining()) {
        return true;
      }
    }
    return false;
  }

  @Override
  public void shutdownInput() throws IOException {
    channel.shutdownInput();
  }

  @Override
  public String peer() {
    return peer;
  }

  /** The subject of the peer's verified certificate, or null when the peer presented none. */
  public String peerSubject() {
    try {
      return engine.getSession().getPeerPrincipal().getName();
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
  }

  @Override
  public void close() throws IOException {
    try {
      engine.closeOutbound();
      wrap(new ByteBuffer[] {ByteBuffer.allocate(0)});
    } catch (IOException ignored) {
      // the close_notify is a courtesy; the socket closes regardless
    } finally {
      channel.close();
    }
  }
}
