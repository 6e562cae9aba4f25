package dev.vdisk.nbd.server;

import dev.vdisk.nbd.wire.ChannelWire;
import dev.vdisk.nbd.wire.TlsWire;
import dev.vdisk.nbd.protocol.ProtocolException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One client from accept to close: negotiation (with a deadline), then transmission. Whatever the client
 * does, the failure stays in this connection: it is logged and the socket closed.
 */
final class Connection implements Runnable {
  private final ChannelWire wire;
  private final Map<String, Export> exports;
  private final ServerConfig config;
  private final BufferPool pool;
  private final Semaphore serverBytes;
  private final EventLog log;
  private final ScheduledExecutorService timer;
  private final RequestMetrics metrics;
  private final long id;
  private volatile boolean transmitting;
  private volatile Transmission transmission;

  Connection(long id, ChannelWire wire, Map<String, Export> exports, ServerConfig config, BufferPool pool,
      Semaphore serverBytes, EventLog log, ScheduledExecutorService timer, RequestMetrics metrics) {
    this.serverBytes = serverBytes;
    this.metrics = metrics;
    this.id = id;
    this.wire = wire;
    this.exports = exports;
    this.config = config;
    this.pool = pool;
    this.log = log;
    this.timer = timer;
  }

  @Override
  public void run() {
    long start = System.nanoTime();
    String export = null;
    String end = "closed";
    try (wire) {
      log.info("connect", "conn", id, "peer", wire.peer());
      ScheduledFuture<?> deadline = timer.schedule(this::closeQuietly, config.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
      Session s;
      Negotiation n = new Negotiation(wire, exports, config);
      try {
        s = n.run();
      } finally {
        deadline.cancel(false);
      }
      if (s == null) {
        end = "no-export";
        return;
      }
      export = s.export().name();
      String client = n.wire() instanceof TlsWire t ? t.peerSubject() : null;
      log.info("open", "conn", id, "peer", wire.peer(), "export", export, "tls", n.tls(), "tls-client", client == null ? "-" : client,
          "structured", s.structuredReplies(),
          "contexts", s.contexts().stream().map(c -> c.contextName()).toList(), "flags", String.format("0x%04x", s.transmissionFlags()));
      transmission = new Transmission(n.wire(), s, config, pool, serverBytes, metrics);
      transmitting = true;
      end = transmission.run() ? "disconnect" : "eof";
    } catch (EOFException | ClosedChannelException e) {
      end = transmitting ? "eof" : "eof-in-negotiation";
    } catch (ProtocolException e) {
      end = "protocol-error";
      log.warn("protocol-error", "conn", id, "peer", wire.peer(), "error", e.getMessage());
    } catch (IOException e) {
      end = "io-error";
      log.warn("connection-error", "conn", id, "peer", wire.peer(), "error", String.valueOf(e.getMessage()));
    } finally {
      log.info("close", "conn", id, "peer", wire.peer(), "export", export == null ? "-" : export, "end", end,
          "seconds", String.format("%.3f", (System.nanoTime() - start) / 1e9));
    }
  }

  /**
   * Starts stopping: a negotiating connection is closed; a transmitting one finishes the requests it has and
   * answers new ones with {@code ESHUTDOWN} so that the client disconnects.
   */
  void stop() {
    Transmission t = transmission;
    if (t != null) {
      t.stopping();
    } else {
      closeQuietly();
    }
  }

  /** Whether negotiation finished and the client entered transmission (qemu-nbd counts only such clients as served). */
  boolean transmitted() {
    return transmitting;
  }

  /** Stops reading (for a client that did not disconnect after {@link #stop}); requests already read still complete. */
  void stopReading() {
    try {
      wire.shutdownInput();
    } catch (IOException e) {
      closeQuietly();
    }
  }

  /**
   * Closes the socket whatever the connection is doing: for one still running when the server's stop times out,
   * such as a thread waiting to write a reply that the client does not read (the reader stopped reading at {@link
   * #stopReading}, but a blocked write does not see that). The write then fails, and the connection ends as for a
   * client gone (the requests it has in flight on the disk still complete first).
   */
  void abort() {
    try {
      wire.close();
    } catch (IOException ignored) {
      // closing is all we wanted
    }
  }

  private void closeQuietly() {
    if (transmitting) {
      return; // the deadline fired as negotiation finished
    }
    abort();
  }
}
