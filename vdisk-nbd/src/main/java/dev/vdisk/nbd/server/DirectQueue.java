package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.RequestQueue;
import dev.vdisk.nbd.protocol.RequestHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.LockSupport;

/**
 * The reads and writes of one connection to an export that bypasses the page cache (O_DIRECT), kept in flight in the
 * kernel at the client's depth through the device's asynchronous {@link RequestQueue} ({@code aio=native} or {@code
 * aio=io_uring}). On such an export every request waits for the disk; handed to one of the connection's worker
 * threads each costs a wake-up of the worker and two to three context switches, and the requests reach the disk only
 * as fast as the workers are scheduled (measured 2026-12-05, 4 KiB at depth 16 under load: 2.7-3.0 context switches
 * and 19-24 us of server CPU per request, the device's mean depth 2.3-4.1 of the client's 16).
 *
 * <p>Where the queue {@linkplain RequestQueue#watches watches} a socket (io_uring) and the connection is a plain one
 * whose socket descriptor the JDK gives ({@link dev.vdisk.io.internal.SocketDescriptor}), the connection's reader
 * owns the queue itself, as qemu-nbd's one event loop does: an offer submits the request at once, and where the
 * reader would wait for the client's next request it {@linkplain #awaitRequest waits in the queue} instead, for the
 * socket to become readable (a poll in the same ring) or a request to complete, answering completions as they come,
 * their replies written together before each wait. No other thread is involved, so a request's round trip waits on
 * no wake-up of another thread. Where the reader would wait for anything else while requests of this queue hold what
 * it waits for (a slot, budget), it {@linkplain #answerSome answers some} first. Else:
 *
 * <p>One thread of this connection owns the queue: the reader {@linkplain #offer offers} it a request (its header,
 * payload and budget) and goes on reading; the queue's thread submits what was offered, waits for a completion,
 * replies to every request completed (those replies go out together, {@link ReplySender}: this thread is its owner),
 * submits what was offered meanwhile, and so on. It sleeps only when nothing is in flight; then an offer wakes it.
 * An offer made while it waits for the disk wakes that wait where the queue can ({@link RequestQueue#wake}: an
 * eventfd that io_uring keeps a read of, Linux AIO a poll), once per wait; elsewhere (librbd) the request waits for
 * the next completion. Before it waits, it spins for the next request if the reader said it holds it already.
 * (The reader submitting an offer itself while this thread slept, so that the disk need not wait for it to be
 * scheduled, cost more: under io_uring the completion's task work then interrupts the reader in its socket read; 4
 * KiB writes at depth 16, 2026-12-05: 13-16 against 10-11 us of server CPU and 1.1-2.0 against 0.8-0.9 context
 * switches per request.) Nor did handing the requests offered together to the kernel together (a plug around
 * {@code submitOffered}: 0.18-0.20 io_uring_enter per request against 1.0-1.15, in batches of 14-16): 4 KiB at depth
 * 16, alternating, load 3-6, 2026-12-05: reads 21,000-25,000 against 30,000-34,000 IOPS, the device getting the
 * requests in bursts; in batches of at most 4, reads 39,000-51,000 against 35,000-39,000 but writes 21,000-23,000
 * against 23,000-35,000, at the same CPU per request.
 *
 * <p>Where a 4 KiB request's round trip goes on the reader's path against qemu-nbd's ({@code --aio=io_uring}, one
 * thread), qemu-img bench at depth 16 over a unix socket, traced with {@code bench/nbd-round-trip.py} (medians of
 * three runs each, load 2.6-4.5, 2026-12-06): both submit each request in an io_uring_enter of its own (vdisk
 * 1.0-1.05 per request, plus 0.3-0.9 waits; qemu-nbd 1.0, and it never waits in the ring: ppoll); vdisk makes 1.6-2.3
 * system calls per request in all (0.1-0.4 socket writes, 0.2-0.35 socket reads), qemu-nbd 7.2-9.4 (a sendmsg per
 * reply, two recvmsg per request, eventfd writes). The stages of the loop (vdisk against qemu-nbd, us): a device
 * completion to the next reply write 22-25 against 9-14; the client's send to the server's next socket read 16-27
 * against 8-12 (the ring's poll against ppoll); the read to the device's issue 4-10 against 3-5; a reply write to
 * the client's receive 4-19 against 3-8 (reads' replies go out five to a write); the client's own turnaround about
 * equal (25-33 against 32-39). Writing each reply as its request completes (not batched until the reap's end) brought
 * the first of those stages to 9-14 us but not the client's next request sooner (its turnaround 20 -> 43 us on writes)
 * nor the runs shorter (3 alternating traced rounds, load 2.7-6.7: writes 1.09 -> 1.54 s, reads 0.85 -> 0.88 s): not
 * kept.
 *
 * <p>Where that first stage goes ({@code bench/nbd-reply-wait.py}, raw 4 KiB at depth 16, load 4-6, 2026-12-06): the
 * reader is asleep in its wait when 34-97% of the completions land (qemu-nbd's loop: 6-37%, it rarely sleeps), and
 * only 2-5% land while it submits the rest of a batch of requests (counted in the queue: answering those after each
 * submission, from the ring without a system call, would take no more). On writes the kernel wakes the reader 7-13 us
 * after the completion (1-2 us on reads) and the reply goes out 1-4 us after the wait returns. On reads the disk
 * completes the round: a wait returns with 10-16 completions, each answered in 1.2-1.6 us (its data copied into the
 * batch; a write's 0.16 us), and the one write after them leaves 17-23 us after the wait's return. Writing the batch
 * every {@link Transmission#REPLIES_PER_WRITE} replies as they are answered cut that to 6 us and the stage from 23
 * to 10-11 us (qemu-nbd 5-11), but not the runs (alternating {@code bench/ab-serve.sh -r 5 -m none}, load 4-6.5;
 * IOPS medians old against new, raw reads 72,216 / 70,486 and 60,675 / 62,999, raw writes 63,785 / 60,084 and
 * 33,278 / 37,898, qcow2 reads 70,493 / 70,356 and 76,772 / 56,935, qcow2 writes 50,010 / 34,383 and 43,453 /
 * 41,916) and it cost 0.25-0.75 us of server CPU per request (0.1-0.25 more socket writes): not kept. Nor writing
 * the first reply of each round at once, the rest after the round (two series each, load 2.3-4.2: raw reads 70,931 /
 * 71,747 and 78,830 / 79,378, raw writes 59,947 / 58,613 and 60,923 / 58,265, qcow2 reads 73,234 / 77,798 and 75,507
 * / 65,632, qcow2 writes 55,140 / 56,848 and 52,824 / 42,513). Likely (not measured): on 2 cores a reply sent sooner
 * wakes the client onto the CPU the reader still needs for the rest of the round.
 *
 * <p>The wake-up's measure (4 KiB at depth 16 under load 8-10 on 2 cores, 2026-12-05, time from offer to submission
 * per request): 5-10% of requests arrive during such a wait; writes, whose device latency is the longer (0.3-0.9 ms
 * here), waited 78-168 us on average without it and 41-47 us with it (those waiting 64 us or more: 27-33% against
 * 6-10%), reads 45-51 against 39-45 us; under Linux AIO writes 87-135 against 42-48 us, reads 39-65 against 30-52 us.
 * The device's mean depth moved within the noise (reads 4.4-5.4 against 5.0-5.9 of the client's 16): the rest of a
 * request's round trip is spent outside the device, so CPU per request is what moves these cells. Its cost is not
 * seen there: 0.002-0.011 eventfd writes per request (strace, io_uring), and the builds just before and after it,
 * alternating with three warm-ups (bench/ab-serve.sh, load 3-8), spent the same server CPU per request (medians:
 * reads 9.2 and 9.5 us, writes 11.8 and 11.5 us; later 10.5 and 10.3, 18.5 and 13.8) at the same context switches.
 *
 * <p>Taken are READs sent as one data chunk read into a buffer ({@link RequestExecutor#plainRead}) and WRITEs without
 * FUA, aligned to {@link #ALIGN} bytes (so that O_DIRECT takes them as they are: an unaligned one would
 * run synchronously on this thread, read-modify-write included, and hold up the others); everything else goes to the
 * workers, as do requests beyond {@link #DEPTH}. If the queue fails (not a request: the queue itself), the requests in
 * flight are answered EIO and later ones run synchronously on this thread through the device's own calls. An RBD
 * export takes its queue (librbd's AIO) under every cache mode when its stack has one (counts in vdisk-cli's
 * ExportSpec#pageCacheWrites).
 */
final class DirectQueue {
  /** Requests in the kernel at once: QEMU's client keeps 16 in flight, nbdcopy 64 per connection. */
  static final int DEPTH = 64;
  /**
   * How long this thread waits, spinning, for the next request the reader said it already holds ({@link #offer}'s
   * {@code more}) before it waits for the disk instead: a request offered while this thread waits for a completion
   * waits for that completion too.
   */
  static final long MORE_NANOS = 20_000;
  /**
   * The alignment of offset and length a request needs to be taken: O_DIRECT's on the file systems and disks met here
   * (512 or 4096 bytes). Not the export's preferred block size, which is a qcow2 image's cluster size (64 KiB): its
   * 4 KiB requests go to the file as they are too.
   */
  static final int ALIGN = 4096;

  /** What the reader hands over with a request, given back when the request has been answered. */
  interface Owner {
    /** The request that owned {@code buffer} (pooled) and {@code budget} bytes of budget has been answered. */
    void done(ByteBuffer buffer, int budget);
  }

  /** One request of the queue, by tag. */
  private static final class Job {
    RequestHeader header;
    ByteBuffer buffer;
    int budget;
    long start;
  }

  private final RequestQueue queue;
  private final RequestExecutor executor;
  private final ReplySender sender;
  private final BufferPool pool;
  private final Owner owner;
  /** The queue's own thread; null where the reader owns the queue ({@link #socket}). */
  private final Thread thread;
  /** The client's socket where the reader owns the queue and waits there for it; else -1. */
  private final int socket;
  /** The queue's {@link RequestQueue#wakeable}: an offer made while this thread waits in its reap wakes it. */
  private final boolean wakeable;
  private final Job[] jobs = new Job[DEPTH];
  /** Guards the fields below it: the reader's side and this thread's meet here. */
  private final Object lock = new Object();
  private final int[] freeTags = new int[DEPTH];
  private int free;
  /** Tags offered and not yet submitted, a ring of {@link #DEPTH}. */
  private final int[] offered = new int[DEPTH];
  private int offeredHead;
  private int offeredCount;
  /** This thread sleeps (or is about to) until an offer or {@link #close}. */
  private boolean idle;
  /**
   * This thread waits (or is about to) in the queue's reap with requests in flight, and the queue is {@linkplain
   * RequestQueue#wakeable wakeable}: the next offer wakes it. Written under {@link #lock}; cleared after the reap.
   */
  private volatile boolean waiting;
  private boolean closing;
  /** The reader's word with its last offer: the next request is already in its read-ahead. */
  private volatile boolean more;
  /** Set by this thread once the queue failed: later requests run synchronously. */
  private boolean failed;

  private DirectQueue(RequestQueue queue, RequestExecutor executor, ReplySender sender, BufferPool pool, Owner owner,
      int socket) {
    this.queue = queue;
    this.socket = socket;
    this.executor = executor;
    this.sender = sender;
    this.pool = pool;
    this.owner = owner;
    this.wakeable = queue.wakeable();
    for (int i = 0; i < DEPTH; i++) {
      jobs[i] = new Job();
      freeTags[i] = DEPTH - 1 - i;
    }
    free = DEPTH;
    this.thread = socket >= 0 ? null : Thread.ofPlatform().daemon().name("nbd-queue").unstarted(this::run);
  }

  /**
   * A queue for {@code session}'s export if it bypasses the page cache and its device has an asynchronous queue
   * ({@link dev.vdisk.block.BlockDevice#queue}); else null, and the workers take every request. If the queue
   * {@linkplain RequestQueue#watches watches} descriptors and {@code socket} (the client's, or -1) is one, the calling
   * thread (the reader) owns it and the owner of {@code sender}'s batch is the caller's to set ({@link #onReader});
   * else this makes its own thread the owner of that batch and starts it; {@link #close} ends it.
   */
  static DirectQueue open(Session session, RequestExecutor executor, ReplySender sender, BufferPool pool, Owner owner,
      int socket) {
    Export export = session.export();
    if (export.pageCacheWrites()) {
      return null;
    }
    RequestQueue q;
    try {
      q = export.device().queue(DEPTH);
    } catch (IOException e) {
      return null; // the device is closing, or its queue cannot be set up: the workers serve as they do without one
    }
    if (q == null) {
      return null;
    }
    DirectQueue d = new DirectQueue(q, executor, sender, pool, owner, socket >= 0 && q.watches() ? socket : -1);
    if (d.thread != null) {
      sender.ownedBy(d.thread);
      d.thread.start();
    }
    return d;
  }

  /**
   * Where the reader owns this queue ({@link #onReader}): answers every request in flight here, as the connection
   * ends (before it waits for the workers' requests). Elsewhere nothing: the queue's thread answers them.
   */
  void answerAll() {
    while (answerSome()) {
      // each round answers what completed
    }
  }

  /** Whether the reader owns this queue: it submits what it offers, and waits here for its next request. */
  boolean onReader() {
    return thread == null;
  }

  /**
   * The reader's wait for its client's next request, where it owns this queue ({@link #onReader}; elsewhere returns at
   * once): until the socket is readable, answers the requests that complete, their replies going out together before
   * each wait. Once the queue has failed it returns at once: the requests run synchronously then.
   */
  void awaitRequest() {
    if (thread != null) {
      return;
    }
    boolean readable = false;
    while (!readable && !failed) {
      sender.flush();
      try {
        readable = queue.awaitReadable(socket, this::completed);
      } catch (IOException | RuntimeException e) {
        fail(e);
      }
    }
    sender.flush();
  }

  /**
   * Where the reader owns this queue ({@link #onReader}): if requests are in flight here (holding slots and budget
   * the reader waits for), waits for at least one, answers what completed and returns true; else false, and the
   * reader waits for what the workers hold. Elsewhere false.
   */
  boolean answerSome() {
    if (thread != null || failed || queue.inFlight() == 0) {
      return false;
    }
    sender.flush();
    try {
      queue.reap(1, this::completed);
    } catch (IOException | RuntimeException e) {
      fail(e);
    }
    sender.flush();
    return true;
  }

  /**
   * Takes {@code r} (the reader decodes the next request into it: this copies it) if it is a request this queue runs
   * and a tag is free, with {@code payload} (a WRITE's, pooled) and {@code budget}, which {@link Owner#done} gives
   * back; false if not, and the caller keeps them. {@code more}: the reader holds the next request's header already
   * (it will offer it within microseconds, unless it goes elsewhere).
   */
  boolean offer(RequestHeader r, ByteBuffer payload, int budget, boolean more) {
    if (!takes(r)) {
      return false;
    }
    boolean wake;
    boolean kick;
    synchronized (lock) {
      if (free == 0 || closing) {
        return false;
      }
      int tag = freeTags[--free];
      Job j = jobs[tag];
      j.header = r.copy();
      j.buffer = payload != null ? payload : pool.acquire((int) r.length());
      j.budget = budget;
      this.more = more;
      offered[(offeredHead + offeredCount++) % DEPTH] = tag;
      wake = idle;
      idle = false;
      kick = waiting;
      waiting = false;
    }
    if (thread == null) {
      submitOffered(); // the reader owns the queue
    } else if (wake) {
      LockSupport.unpark(thread);
    } else if (kick) {
      queue.wake();
    }
    return true;
  }

  private boolean takes(RequestHeader r) {
    long mask = ALIGN - 1;
    if (((r.offset() | r.length()) & mask) != 0 || r.length() == 0) {
      return false;
    }
    return r.type() == NBD_CMD_READ ? executor.plainRead(r) : r.type() == NBD_CMD_WRITE && !r.has(NBD_CMD_FLAG_FUA);
  }

  /**
   * Ends the thread once every offered request has been answered (the caller has waited for them) and it closed the
   * queue; waits for that uninterruptibly (an interrupt stays set), as the queue's buffers are the caller's to free.
   * Where the reader owns the queue, closes the queue (the reader has {@linkplain #answerAll answered} its requests).
   */
  void close() {
    if (thread == null) {
      closeQueue();
      return;
    }
    synchronized (lock) {
      closing = true;
      idle = false;
    }
    LockSupport.unpark(thread);
    boolean interrupted = false;
    while (true) {
      try {
        thread.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void run() {
    try {
      while (true) {
        submitOffered();
        if (more && awaitOffer()) {
          continue; // the reader's next request joins the others in the kernel before this thread waits there
        }
        if (!failed && queue.inFlight() > 0) {
          sender.flush(); // the replies of what completed go out before this thread waits again
          if (wakeable) {
            synchronized (lock) {
              if (offeredCount > 0) {
                continue;
              }
              waiting = true;
            }
          }
          try {
            queue.reap(1, this::completed);
          } catch (IOException | RuntimeException e) {
            fail(e);
          }
          waiting = false; // an offer that saw it set meanwhile wakes the next reap: it ends at once, no harm
          continue;
        }
        sender.flush();
        synchronized (lock) {
          if (offeredCount > 0) {
            continue;
          }
          if (closing) {
            return;
          }
          idle = true;
        }
        while (true) {
          synchronized (lock) {
            if (!idle) {
              break;
            }
          }
          LockSupport.park(this);
        }
      }
    } finally {
      closeQueue();
    }
  }

  /** Flushes the replies and closes the queue unless it failed (a failed one is closed): every request was answered. */
  private void closeQueue() {
    sender.flush();
    if (!failed) {
      try {
        queue.close();
      } catch (IOException e) {
        // every request was answered; a failed teardown loses nothing of theirs
      }
    }
  }

  /** Spins while the reader says more is coming, at most {@link #MORE_NANOS}; true if a request was offered. */
  private boolean awaitOffer() {
    long deadline = System.nanoTime() + MORE_NANOS;
    while (more) {
      synchronized (lock) {
        if (offeredCount > 0) {
          return true;
        }
      }
      if (System.nanoTime() - deadline > 0) {
        more = false; // the reader went elsewhere (a worker's request, a payload still arriving): wait for the disk
        return false;
      }
      Thread.onSpinWait();
    }
    return false;
  }

  /** Starts every offered request: into the queue, or (once it failed) run here through the device. */
  private void submitOffered() {
    while (true) {
      int tag;
      synchronized (lock) {
        if (offeredCount == 0) {
          return;
        }
        tag = offered[offeredHead];
        offeredHead = (offeredHead + 1) % DEPTH;
        offeredCount--;
      }
      start(tag);
    }
  }

  private void start(int tag) {
    Job j = jobs[tag];
    RequestHeader r = j.header;
    j.start = executor.clock();
    boolean read = r.type() == NBD_CMD_READ;
    Exception refused = read ? executor.startRead(r) : executor.startWrite(r);
    if (refused != null) {
      finish(tag, refused);
      return;
    }
    if (failed) {
      finish(tag, executor.runDirectly(r, j.buffer));
      return;
    }
    try {
      if (read) {
        queue.read(r.offset(), j.buffer, tag);
      } else {
        queue.write(r.offset(), j.buffer, tag);
      }
    } catch (IOException | RuntimeException e) {
      fail(e); // answers this request too: whether the queue took it is unknown
    }
  }

  private void completed(int tag, IOException error) {
    finish(tag, error);
  }

  /** Replies to the request of {@code tag} (failed with {@code failure}, else done) and gives it back. */
  private void finish(int tag, Exception failure) {
    Job j = jobs[tag];
    if (j.header.type() == NBD_CMD_READ) {
      executor.finishRead(j.header, j.buffer.flip(), failure, j.start);
    } else {
      executor.finishWrite(j.header, failure, j.start);
    }
    ByteBuffer buffer = j.buffer;
    int budget = j.budget;
    j.header = null;
    j.buffer = null;
    synchronized (lock) {
      freeTags[free++] = tag;
    }
    owner.done(buffer, budget);
  }

  /**
   * The queue failed: tears it down (it waits for what the kernel holds) and answers every request it held EIO;
   * from now on requests run here synchronously.
   */
  private void fail(Exception e) {
    failed = true;
    try {
      queue.close();
    } catch (IOException | RuntimeException ignored) {
      // the requests are answered below either way
    }
    IOException error = new IOException("request queue failed: " + e.getMessage(), e);
    for (int tag = 0; tag < DEPTH; tag++) {
      if (jobs[tag].header != null && !offeredOrFree(tag)) {
        finish(tag, error);
      }
    }
  }

  /** Whether {@code tag} is offered (not yet started) or free: not in the failed queue. */
  private boolean offeredOrFree(int tag) {
    synchronized (lock) {
      for (int i = 0; i < offeredCount; i++) {
        if (offered[(offeredHead + i) % DEPTH] == tag) {
          return true;
        }
      }
      for (int i = 0; i < free; i++) {
        if (freeTags[i] == tag) {
          return true;
        }
      }
      return false;
    }
  }
}
