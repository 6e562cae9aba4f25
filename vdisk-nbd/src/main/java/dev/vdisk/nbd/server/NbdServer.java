package dev.vdisk.nbd.server;

import dev.vdisk.nbd.wire.ChannelWire;
import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An NBD server: listens on TCP and/or unix sockets and serves a fixed set of {@link Export}s, one platform
 * thread per connection (reading its requests and running the small ones) and up to
 * {@value Transmission#WORKERS} platform worker threads per connection for the other requests.
 *
 * <p>Lifecycle: construct, {@link #listen} once or more, then {@link #stop} (graceful: stop accepting,
 * let connections finish the requests they have read, flush and close every export) and optionally
 * {@link #awaitStopped}. The server owns the exports' devices and closes them.
 *
 * <p>With {@link ServerConfig#maxClients()} set, a listener stops accepting while that many clients are connected
 * (further clients wait in the socket's backlog), as qemu-nbd's {@code --shared}.
 */
public final class NbdServer implements AutoCloseable {
  /** How long {@link #stop} lets clients disconnect by themselves after {@code ESHUTDOWN}. */
  public static final Duration DISCONNECT_GRACE = Duration.ofSeconds(2);
  /** How long {@link #stop} waits, once it closed a connection's socket at its timeout, for the connection to end. */
  static final Duration ABORT_GRACE = Duration.ofSeconds(5);
  /**
   * Send buffer asked for on a unix-socket connection (Linux doubles it for its bookkeeping, so the socket holds 512
   * KiB; the cap is {@code net.core.wmem_max}). The default, about 208 KiB, is a fifth of a 1 MiB read reply: the
   * reader sending it with sendfile sleeps and wakes about four times while the client drains the socket. Measured
   * with 1 MiB reads at depth 4 (2026-12-04, alternating runs under load, server context switches per request and
   * CPU per MB, unpinned): the default 5.2-5.4 and 0.08-0.10 ms/MB; this size 3.1-3.2 and 0.086-0.092 ms/MB, and fewer, 2.1-2.3
   * against 3.9-4.2, with client and server pinned to different cores; 1 MiB (2 MiB held) 1.7-2.0 switches but
   * 0.107-0.116 ms/MB unpinned. TCP keeps the kernel's default: setting SO_SNDBUF there would switch
   * off its autotuning, which grows the buffer as the connection needs.
   */
  static final int UNIX_SEND_BUFFER = 256 << 10;

  private final Map<String, Export> exports;
  private final ServerConfig config;
  private final EventLog log;
  private final BufferPool pool;
  /** Payload bytes all connections may hold at once ({@link ServerConfig#inflightBytesTotal()}). */
  private final Semaphore payloadBudget;
  private final ScheduledExecutorService timer;
  private final RequestMetrics metrics;
  private final List<ServerSocketChannel> listeners = new ArrayList<>();
  private final List<Thread> acceptors = new ArrayList<>();
  private final List<Path> socketFiles = new ArrayList<>();
  private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
  private final Set<Thread> connectionThreads = ConcurrentHashMap.newKeySet();
  private final AtomicLong ids = new AtomicLong();
  private final Semaphore slots;
  private volatile Runnable onLastClient = () -> { };
  private volatile boolean stopping;
  private boolean stopped;

  /**
   * @param exports the exports, names unique
   * @throws IllegalArgumentException if two exports share a name
   */
  public NbdServer(List<Export> exports, ServerConfig config, EventLog log) {
    this(exports, config, log, RequestMetrics.NONE);
  }

  /**
   * @param exports the exports, names unique
   * @param metrics told about every request executed
   * @throws IllegalArgumentException if two exports share a name
   */
  public NbdServer(List<Export> exports, ServerConfig config, EventLog log, RequestMetrics metrics) {
    this.metrics = metrics;
    Map<String, Export> byName = new LinkedHashMap<>();
    for (Export e : exports) {
      if (byName.putIfAbsent(e.name(), e) != null) {
        throw new IllegalArgumentException("export name: '" + e.name() + "' given twice (expected: unique names)");
      }
    }
    this.exports = Collections.unmodifiableMap(byName);
    this.config = config;
    this.log = log;
    this.slots = new Semaphore(config.maxClients() == 0 ? Integer.MAX_VALUE : config.maxClients());
    this.pool = new BufferPool(Math.max(config.maxPayload(), Negotiation.MAX_OPTION_DATA), 2L * config.maxPayload());
    this.payloadBudget = new Semaphore((int) Math.min(Integer.MAX_VALUE, config.inflightBytesTotal()));
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "nbd-timer");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Starts listening on {@code address}: an {@link InetSocketAddress} (TCP) or a {@link UnixDomainSocketAddress}
   * (a stale socket file where nothing listens is replaced, a live server's refused; the file is removed when
   * the server stops).
   *
   * @return the address actually bound (with the real port when port 0 was asked)
   * @throws IOException if the address cannot be bound; the message starts with the address
   *     ({@code 127.0.0.1:10809: Address already in use})
   */
  public synchronized SocketAddress listen(SocketAddress address) throws IOException {
    if (stopping) {
      throw new IllegalStateException("server is stopping");
    }
    ServerSocketChannel ch;
    if (address instanceof UnixDomainSocketAddress unix) {
      SocketPath.claim(unix.getPath());
      ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
      bind(ch, unix, 0);
      socketFiles.add(unix.getPath());
    } else {
      ch = ServerSocketChannel.open();
      ch.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
      bind(ch, address, 128);
    }
    return serve(ch);
  }

  /**
   * Starts serving on a channel already bound and listening (socket activation: the one systemd passes as
   * fd 3); the server closes it when it stops.
   *
   * @return the channel's address
   */
  public synchronized SocketAddress listen(ServerSocketChannel ch) throws IOException {
    if (stopping) {
      throw new IllegalStateException("server is stopping");
    }
    return serve(ch);
  }

  private static void bind(ServerSocketChannel ch, SocketAddress address, int backlog) throws IOException {
    try {
      ch.bind(address, backlog);
    } catch (IOException e) {
      closeQuietly(ch);
      throw new IOException(describe(address) + ": " + e.getMessage(), e);
    }
  }

  private SocketAddress serve(ServerSocketChannel ch) throws IOException {
    listeners.add(ch);
    SocketAddress bound = ch.getLocalAddress();
    Thread t = Thread.ofPlatform().daemon().name("nbd-accept " + bound).start(() -> acceptLoop(ch));
    acceptors.add(t);
    log.info("listen", "address", describe(bound), "exports", exports.keySet(), "allow", config.allow());
    return bound;
  }

  /**
   * Runs {@code action} (once per occurrence, on the closing connection's thread) whenever a client that reached the
   * transmission phase disconnects and no other client is connected: qemu-nbd without {@code --persistent}
   * exits then. Clients that only listed exports or failed to negotiate do not count, as in qemu-nbd.
   */
  public void onLastClient(Runnable action) {
    onLastClient = action;
  }

  /** The exports by name. */
  public Map<String, Export> exports() {
    return exports;
  }

  private void acceptLoop(ServerSocketChannel ch) {
    while (!stopping) {
      SocketChannel c;
      try {
        slots.acquire();
      } catch (InterruptedException e) {
        return;
      }
      try {
        c = ch.accept();
      } catch (ClosedChannelException e) {
        slots.release();
        return;
      } catch (IOException e) {
        slots.release();
        log.error("accept-error", "error", String.valueOf(e.getMessage()));
        sleepBriefly(); // e.g. EMFILE: do not spin
        continue;
      }
      try {
        SocketAddress peer = c.getRemoteAddress();
        if (!config.allow().allows(peer)) {
          log.warn("refused", "peer", describe(peer), "reason", "not in --allow list");
          closeQuietly(c);
          slots.release();
          continue;
        }
        if (c.getLocalAddress() instanceof UnixDomainSocketAddress) {
          c.setOption(StandardSocketOptions.SO_SNDBUF, UNIX_SEND_BUFFER);
        }
        Connection conn = new Connection(ids.incrementAndGet(), new ChannelWire(c), exports, config, pool, payloadBudget, log, timer,
            metrics);
        connections.add(conn);
        // A platform thread: it waits for the client in read() itself, where a virtual thread parks and is woken
        // through the JDK's poller and a carrier thread, two handoffs on every batch of requests it reads.
        Thread t = Thread.ofPlatform().daemon().name("nbd-conn").unstarted(() -> {
          try {
            conn.run();
          } finally {
            connections.remove(conn);
            connectionThreads.remove(Thread.currentThread());
            slots.release();
            if (conn.transmitted() && connections.isEmpty() && !stopping) {
              onLastClient.run();
            }
          }
        });
        connectionThreads.add(t);
        t.start();
        if (stopping) {
          conn.stop();
        }
      } catch (IOException e) {
        slots.release();
        log.warn("accept-error", "error", String.valueOf(e.getMessage()));
        closeQuietly(c);
      }
    }
  }

  /**
   * Stops gracefully, as the protocol asks: no new connections; connected clients get their requests in
   * flight answered and new ones refused with {@code ESHUTDOWN}, which tells them to disconnect; a client
   * still connected after {@link #DISCONNECT_GRACE} is cut off (its requests already read still complete).
   * A connection still running at {@code timeout} (one that waits to write replies its client does not read) has its
   * socket closed, which fails that write, and gets {@link #ABORT_GRACE} more to finish what it has on the disk. Then
   * every export is flushed (where writable) and closed. Returns when all of that is done; connections still
   * running then are logged and abandoned. Idempotent.
   */
  public void stop(Duration timeout) {
    synchronized (this) {
      if (stopped) {
        return;
      }
      stopped = true;
      stopping = true;
    }
    log.info("shutdown", "connections", connections.size());
    for (ServerSocketChannel ch : listeners) {
      closeQuietly(ch);
    }
    acceptors.forEach(Thread::interrupt); // one may wait for a client slot rather than in accept

    connections.forEach(Connection::stop);
    long deadline = System.nanoTime() + timeout.toNanos();
    awaitConnections(System.nanoTime() + Math.min(timeout.toNanos(), DISCONNECT_GRACE.toNanos()), false);
    connections.forEach(Connection::stopReading);
    awaitConnections(deadline, false);
    connections.forEach(Connection::abort);
    awaitConnections(System.nanoTime() + ABORT_GRACE.toNanos(), true);
    for (Export e : exports.values()) {
      closeExport(e);
    }
    for (Path p : socketFiles) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException ignored) {
        // a stale socket file is harmless: the next bind reports it
      }
    }
    timer.shutdownNow();
    log.info("stopped");
  }

  private void awaitConnections(long deadline, boolean logLeftovers) {
    for (Thread t : List.copyOf(connectionThreads)) {
      try {
        long left = deadline - System.nanoTime();
        if ((left <= 0 || !t.join(Duration.ofNanos(left))) && logLeftovers) {
          log.warn("shutdown-timeout", "thread", t.getName());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** {@link #stop} with a 30 s limit. */
  @Override
  public void close() {
    stop(Duration.ofSeconds(30));
  }

  private void closeExport(Export e) {
    BlockDevice d = e.device();
    try {
      if (!d.capabilities().readOnly() && d.capabilities().flush().available()) {
        d.flush();
      }
    } catch (IOException ex) {
      log.error("flush-error", "export", e.name(), "error", String.valueOf(ex.getMessage()));
    }
    try {
      d.close();
    } catch (IOException ex) {
      log.error("close-error", "export", e.name(), "error", String.valueOf(ex.getMessage()));
    }
  }

  private static String describe(SocketAddress a) {
    if (a instanceof UnixDomainSocketAddress u) {
      return "unix:" + u.getPath();
    }
    if (a instanceof InetSocketAddress i) {
      return i.getAddress().getHostAddress() + ":" + i.getPort();
    }
    return String.valueOf(a);
  }

  private static void sleepBriefly() {
    try {
      TimeUnit.MILLISECONDS.sleep(50);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(java.io.Closeable c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // nothing left to do with it
    }
  }
}
