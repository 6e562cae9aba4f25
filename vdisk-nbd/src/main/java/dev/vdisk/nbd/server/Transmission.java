package dev.vdisk.nbd.server;

import dev.vdisk.nbd.wire.Wire;
import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.HostRange;
import dev.vdisk.nbd.protocol.RequestHeader;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Phaser;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The transmission phase of one connection. This thread reads requests (and WRITE payloads) in order; each
 * request then runs on one of the connection's {@link #WORKERS} worker threads, so a slow request does not hold up
 * the ones behind it, and replies go out as requests finish. The workers are platform threads, not virtual ones:
 * a virtual thread that touches the socket switches it to non-blocking mode for good, after which every read that
 * finds no data costs a {@code poll}, and a large reply sent with sendfile goes out in socket-buffer-sized pieces,
 * each a park and a wake-up through the JDK's poller; on a blocking socket one sendfile call sends it whole. A
 * worker blocked on the disk holds only itself. The exception are requests that do not wait for the disk on an export
 * served through the page cache ({@link Export#pageCacheWrites()}), which this thread runs itself: whole-page
 * writes without FUA (no read-modify-write of a partial page, no flush) of any length, and reads of at most
 * {@link #INLINE_READ_MAX} bytes. Handing a 4 KiB request to another thread costs more than the request (a wake-up of
 * the worker, two context switches; on a loaded machine every handoff also waits for the worker to be scheduled). A
 * large write gains nothing from a worker either: buffered writes to one file take the file's lock in turn (the
 * inode lock of ext4 and XFS), so two workers would copy one after the other, and the handoff is all that remains.
 * Nor does a pipeline pay on 2 cores (measured with 4 KiB writes at depth 16, 2026-12-04): with this thread only
 * reading and a second one running these requests in batches, the server spent 1.6 us more CPU per request, and this
 * thread, draining the socket sooner, slept three to five times as often. Most of a 4 KiB write's CPU is the kernel's
 * (about 88%, the pwrite half of it), and it doubled (4.6 to 10 us on this thread) with the client pinned to the other core.
 * A read can miss the page cache and wait for the disk, holding up the requests behind it: after an
 * inline read that took longer than {@link #SLOW_READ_NANOS}, the next {@link #OFFLOADED_AFTER_SLOW} reads run on
 * the workers again. Longer reads that go out from the page cache (sendfile, {@link RequestExecutor#hostRanges}) run
 * here when the page cache holds every page of them ({@link HostRange#cached}, one cachestat call), else on a
 * worker: the hand-off is most of a 1 MiB read's latency at depth 4, and the check, not the elapsed time, is what
 * tells a disk wait apart from a client slow to drain its socket. On an export that bypasses the page cache, reads
 * and writes go to the kernel through the device's request queue instead, from one thread of the connection
 * ({@link DirectQueue}), where the device has one: this thread itself where that queue can also wait for the
 * client's socket (io_uring, a connection without TLS), so that it waits for the next request and for the disk in one
 * place, else a thread of the queue's own. Replies of requests run here are batched
 * ({@link ReplySender}) and go out before this thread waits for anything: for the client's next request, for its
 * payload, or for budget; and at least every {@link #REPLIES_PER_WRITE} requests.
 * Memory is bounded: the reader waits while the connection holds
 * {@link ServerConfig#inflightBytesPerConnection()} payload bytes or
 * {@link ServerConfig#inflightRequestsPerConnection()} requests, which pushes back on the client through TCP.
 * Requests run here use the reader's own buffers (batch, reply headers, read data; taken from the pool once per
 * connection), so inline reads take no budget; an inline write of up to the wire's read-ahead goes to the device
 * straight from there ({@link Wire#readView}: its payload is neither copied nor budgeted); a longer one goes to the
 * device part by part as it arrives, through one buffer of the connection's ({@link StreamedWrite}). A client must
 * read its replies: once the socket's send buffer is full the reader waits to write them, and then reads no further
 * requests.
 *
 * <p>The phase ends at {@code NBD_CMD_DISC}, at end of stream (the client left, or the server is shutting
 * down and stopped reading), or at a request header without the request magic. In every case the requests
 * already read run to completion before the connection closes, so a client that disconnects mid-stream
 * leaves no half-applied request behind. Once {@link #stopping()} is called, requests still arriving are
 * answered with {@code ESHUTDOWN}, which tells the client to disconnect, as the protocol asks of a server
 * that is shutting down.
 */
final class Transmission {
  private static final int DRAIN_CHUNK = 64 << 10;
  private static final int PAGE = 4096;
  /** Largest read run on the reader thread. */
  static final int INLINE_READ_MAX = 64 << 10;
  /** An inline read that took longer than this waited for the disk (a page-cache hit of 64 KiB takes microseconds). */
  static final long SLOW_READ_NANOS = 200_000;
  /** Reads that go to the workers after a slow inline read. */
  static final int OFFLOADED_AFTER_SLOW = 64;
  /**
   * Worker threads of a connection: requests beyond that many wait in order for one to come free (nbdkit's default of
   * threads per connection is the same).
   */
  static final int WORKERS = 16;
  /** How long an idle worker waits for the next request before it ends. */
  private static final long WORKER_IDLE_SECONDS = 10;

  private final Wire wire;
  private final ServerConfig config;
  private final BufferPool pool;
  private final RequestExecutor executor;
  private final Semaphore bytes;
  /** The server's budget of payload bytes, shared by all connections. */
  private final Semaphore serverBytes;
  private final Semaphore slots;
  private final Phaser inflight = new Phaser(1);
  /** Runs the requests this thread does not run itself; started on the first such request. */
  private final ThreadPoolExecutor workers;
  private final ReplySender sender;
  private final ByteBuffer batch;
  private final boolean inline;
  /** Runs inline writes longer than the wire's read-ahead; null if the export's alignment does not suit it. */
  private final StreamedWrite streamed;
  /** Keeps an O_DIRECT export's reads and writes in flight in the kernel; null if the export has none. */
  private final DirectQueue direct;
  /**
   * Replies of inline requests that go out together at most, even while more requests are read ahead: each reply
   * held back is a request the client cannot send yet, so a client at depth 16 that got its replies only once the
   * reader had written its whole window would sit idle while the reader wrote, and the reader then wait for it.
   * Returned four at a time, the client sends the next requests while the reader writes the rest (4 KiB writes at
   * depth 16, unix socket, load about 1, 2026-12-04 23:03: 0.71-0.76 s per 80,000 against 0.85-0.89 s for one write
   * per window, at the same server CPU per request, 8.1-8.6 against 8.4-8.9 us, and context switches, 0.08).
   */
  static final int REPLIES_PER_WRITE = 4;
  /** Reads still to go to the workers after a slow inline one (this thread's only). */
  private int offloadedReads;
  private volatile boolean stopping;

  /** @param serverBytes the server's payload budget ({@link ServerConfig#inflightBytesTotal()}), shared */
  Transmission(Wire wire, Session session, ServerConfig config, BufferPool pool, Semaphore serverBytes,
      RequestMetrics metrics) {
    this.wire = wire;
    this.serverBytes = serverBytes;
    this.config = config;
    this.pool = pool;
    this.batch = pool.acquire(ReplySender.BATCH_BYTES);
    this.sender = new ReplySender(wire, batch);
    this.executor = new RequestExecutor(session, sender, pool, config.maxPayload(), metrics, wire.sendsFiles());
    this.bytes = new Semaphore(Math.toIntExact(config.inflightBytesPerConnection()));
    this.slots = new Semaphore(config.inflightRequestsPerConnection());
    this.inline = session.export().pageCacheWrites();
    int align = session.export().preferredBlockSize();
    this.streamed = inline && StreamedWrite.fits(align) ? new StreamedWrite(wire, executor, pool, align) : null;
    this.direct = DirectQueue.open(session, executor, sender, pool, this::queued, wire.socket());
    this.workers = new ThreadPoolExecutor(WORKERS, WORKERS, WORKER_IDLE_SECONDS, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), Thread.ofPlatform().daemon().name("nbd-request").factory());
    workers.allowCoreThreadTimeOut(true);
  }

  /**
   * Serves requests until the phase ends, then waits for the requests in flight.
   *
   * @return true if the client ended it with {@code NBD_CMD_DISC}
   * @throws IOException if reading failed (including a broken protocol); in-flight requests have completed
   */
  boolean run() throws IOException {
    ByteBuffer header = ByteBuffer.allocateDirect(REQUEST_SIZE);
    RequestHeader current = new RequestHeader(); // every request is decoded into it; a worker's takes a copy
    if (direct == null || direct.onReader()) {
      sender.ownedBy(Thread.currentThread());
    }
    try {
      while (true) {
        if (!slots.tryAcquire()) {
          acquire(slots, 1);
        }
        RequestHeader r;
        try {
          if (wire.buffered() < REQUEST_SIZE) {
            sender.flush();
            if (direct != null) {
              direct.awaitRequest(); // where this thread owns the queue, it waits there, answering completions
            }
          }
          wire.readFully(header.clear());
          r = current.decode(header.flip());
        } catch (IOException e) {
          slots.release();
          throw e;
        }
        if (r.type() == NBD_CMD_DISC) {
          slots.release();
          return true;
        }
        if (stopping) {
          refuse(r, NBD_ESHUTDOWN, "server is shutting down");
          continue;
        }
        accept(r);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting for in-flight requests");
    } finally {
      sender.flush();
      if (direct != null) {
        direct.answerAll();
      }
      inflight.arriveAndAwaitAdvance();
      workers.shutdown(); // every request has completed: only idle workers are left
      if (direct != null) {
        direct.close();
      }
      executor.close();
      if (streamed != null) {
        streamed.close();
      }
      pool.release(batch);
    }
  }

  /**
   * Takes the request's budget (the connection's, then the server's: while either is spent this thread reads no
   * more requests, which holds the client back) and payload, then starts it; owns one slot from the caller.
   */
  private void accept(RequestHeader r) throws IOException, InterruptedException {
    boolean onReader = runsInline(r);
    List<HostRange> ranges = null;
    if (!onReader && inline && r.type() == NBD_CMD_READ && r.length() > INLINE_READ_MAX) {
      ranges = executor.hostRanges(r);
      onReader = !ranges.isEmpty() && allCached(ranges);
    }
    int budget = 0;
    ByteBuffer payload = null;
    boolean pooled = false;
    try {
      if (r.type() == NBD_CMD_WRITE) {
        if (r.length() > config.maxPayload()) {
          refuse(r, NBD_EINVAL, "length " + r.length() + " (expected: at most " + config.maxPayload() + ")");
          return;
        }
        int length = (int) r.length();
        if (onReader) {
          // the payload is written from the wire's read-ahead, where it arrived: no copy, no pooled buffer, no budget
          if (wire.buffered() < length) {
            sender.flush();
          }
          payload = wire.readView(length);
          if (payload == null && streamed != null) {
            streamed.run(r); // if reading or replying fails, the catch below gives the slot back
            if (sender.batched() >= REPLIES_PER_WRITE) {
              sender.flush();
            }
            slots.release();
            return;
          }
        }
        if (payload == null) {
          budget = takeBudget(length);
          payload = pool.acquire(budget);
          pooled = true;
          if (wire.buffered() < budget) {
            sender.flush();
          }
          wire.readFully(payload);
          payload.flip();
        }
      } else if (r.type() == NBD_CMD_READ && (!onReader || r.length() > INLINE_READ_MAX)
          && r.length() <= config.maxPayload()) {
        // a small inline read's data goes into the reader's own buffer, which the budget does not count
        budget = takeBudget((int) r.length());
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      if (pooled) {
        pool.release(payload);
      }
      giveBudget(budget);
      slots.release();
      throw e;
    }
    int held = budget;
    ByteBuffer data = payload;
    List<HostRange> known = ranges;
    if (onReader) {
      boolean timed = r.type() == NBD_CMD_READ && known == null;
      long start = timed ? System.nanoTime() : 0;
      try {
        executor.execute(r, data, known);
      } finally {
        // a large read found cached may take long to go out (the client drains it), and says nothing of the disk
        if (timed && System.nanoTime() - start > SLOW_READ_NANOS) {
          offloadedReads = OFFLOADED_AFTER_SLOW;
        }
        if (pooled) {
          pool.release(data);
        }
        giveBudget(held);
        slots.release();
      }
      if (sender.batched() >= REPLIES_PER_WRITE) {
        sender.flush();
      }
      return;
    }
    inflight.register();
    if (direct != null && direct.offer(r, data, held, wire.buffered() >= REQUEST_SIZE)) {
      return; // the queue gives payload, budget, slot and party back through queued()
    }
    RequestHeader own = r.copy(); // this thread decodes the next request into r
    workers.execute(() -> {
      try {
        executor.execute(own, data, known);
      } finally {
        if (data != null) {
          pool.release(data); // pooled: a payload in the wire's read-ahead is used on this thread only
        }
        giveBudget(held);
        slots.release();
        inflight.arriveAndDeregister();
      }
    });
  }

  /** A request of {@link #direct} has been answered: gives back what {@link #accept} handed it. */
  private void queued(ByteBuffer buffer, int budget) {
    pool.release(buffer);
    giveBudget(budget);
    slots.release();
    inflight.arriveAndDeregister();
  }

  /**
   * Takes {@code n} bytes of the connection's budget, then of the server's; returns {@code n}. Before waiting for
   * either, the batched replies go out (the client may be waiting for them to send more).
   */
  private int takeBudget(int n) throws InterruptedException {
    if (!bytes.tryAcquire(n)) {
      acquire(bytes, n);
    }
    try {
      if (!serverBytes.tryAcquire(n)) {
        acquire(serverBytes, n);
      }
    } catch (InterruptedException e) {
      bytes.release(n);
      throw e;
    }
    return n;
  }

  /**
   * Takes {@code n} permits of {@code s} once they are free, the batched replies gone out first. Where this thread
   * owns the direct queue, requests there may hold them: it answers those as they complete rather than wait for
   * itself; what the workers hold it waits for.
   */
  private void acquire(Semaphore s, int n) throws InterruptedException {
    do {
      sender.flush();
      if (direct == null || !direct.answerSome()) {
        s.acquire(n);
        return;
      }
    } while (!s.tryAcquire(n));
  }

  private void giveBudget(int n) {
    if (n == 0) {
      return; // a release of nothing still updates the semaphores every connection shares
    }
    serverBytes.release(n);
    bytes.release(n);
  }

  /** Whether this thread runs {@code r} itself (see the class comment). */
  private boolean runsInline(RequestHeader r) {
    if (!inline) {
      return false;
    }
    if (r.type() == NBD_CMD_READ && r.length() <= INLINE_READ_MAX) {
      if (offloadedReads == 0) {
        return true;
      }
      offloadedReads--;
      return false;
    }
    return r.type() == NBD_CMD_WRITE && !r.has(NBD_CMD_FLAG_FUA) && r.offset() % PAGE == 0 && r.length() % PAGE == 0;
  }

  /** Whether every range is in the page cache now, so that sending them will not wait for the disk. */
  private static boolean allCached(List<HostRange> ranges) {
    for (HostRange h : ranges) {
      if (!h.cached()) {
        return false;
      }
    }
    return true;
  }

  /** From now on, requests are refused with {@code ESHUTDOWN}; those already accepted complete. */
  void stopping() {
    stopping = true;
  }

  /** Answers {@code r} with an error without executing it (dropping a WRITE's payload); owns one slot from the caller. */
  private void refuse(RequestHeader r, int errno, String message) throws IOException {
    try {
      if (r.type() == NBD_CMD_WRITE) {
        drain(r.length());
      }
      executor.refuse(r, errno, message);
    } finally {
      slots.release();
    }
  }

  /** Reads and drops a payload the server will not take, keeping the stream in step. */
  private void drain(long length) throws IOException {
    sender.flush();
    ByteBuffer scratch = pool.acquire(DRAIN_CHUNK);
    try {
      long left = length;
      while (left > 0) {
        wire.readFully(scratch.clear().limit((int) Math.min(DRAIN_CHUNK, left)));
        left -= scratch.limit();
      }
    } finally {
      pool.release(scratch);
    }
  }
}
