package dev.vdisk.io;

import java.io.InterruptedIOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Orders read-modify-write cycles against other writes to the same bytes, as QEMU's request
 * serialisation does.
 *
 * <p>A write that pads itself to aligned blocks (reads a block, patches some bytes, writes the block back)
 * would otherwise undo a concurrent write to another part of that block. Every mutating request registers
 * its byte range; a <em>serialising</em> one (an RMW, over its expanded aligned range) waits for every
 * earlier overlapping request, and every request waits for earlier overlapping serialising ones. Requests
 * that are neither serialising nor overlapping a serialising one never wait and take no lock: they touch a
 * concurrent set and two atomic counters.
 *
 * <p>Order is a ticket drawn <em>after</em> a request is visible in the set, so a request that drew a
 * ticket sees every request with a smaller one, and waits only ever point from larger tickets to smaller
 * ones (no deadlock).
 */
final class RequestSerializer {
  private final Set<Request> inFlight = ConcurrentHashMap.newKeySet();
  private final AtomicLong tickets = new AtomicLong();
  private final AtomicInteger serialisingInFlight = new AtomicInteger();

  /** A registered request; pass it to {@link #end} exactly once. */
  static final class Request {
    private final long start;
    private final long end;
    private final boolean serialising;
    /** 0 while being registered. */
    private volatile long ticket;
    private boolean done;

    private Request(long start, long end, boolean serialising) {
      this.start = start;
      this.end = end;
      this.serialising = serialising;
    }

    private boolean conflictsWith(Request o) {
      return (serialising || o.serialising) && start < o.end && o.start < end;
    }

    private synchronized void finish() {
      done = true;
      notifyAll();
    }

    private synchronized void awaitDone() throws InterruptedException {
      while (!done) {
        wait();
      }
    }
  }

  /**
   * Registers a mutation of {@code [start, end)} and waits until no earlier conflicting request is in flight.
   *
   * @param serialising true for a read-modify-write over its expanded aligned range
   * @throws InterruptedIOException if interrupted while waiting (the request is then not registered)
   */
  Request begin(long start, long end, boolean serialising) throws InterruptedIOException {
    Request r = new Request(start, end, serialising);
    if (serialising) {
      serialisingInFlight.incrementAndGet();
    }
    inFlight.add(r);
    r.ticket = tickets.incrementAndGet();
    // An earlier serialising request counted itself before taking its ticket, so a zero here means none.
    if (serialising || serialisingInFlight.get() > 0) {
      try {
        awaitEarlierConflicts(r);
      } catch (InterruptedException e) {
        end(r);
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for an overlapping write to [" + start + ", " + end + ")");
      }
    }
    return r;
  }

  /**
   * Registers a non-serialising mutation of {@code [start, end)} if it need not wait: null (nothing registered) while
   * a serialising request is in flight anywhere, since this one might have to wait for it. For a caller that must
   * not block while it has requests of its own in flight (an asynchronous queue).
   */
  Request tryBegin(long start, long end) {
    Request r = new Request(start, end, false);
    inFlight.add(r);
    r.ticket = tickets.incrementAndGet();
    // As in begin: a serialising request counted itself before its ticket, so zero means none can be earlier.
    if (serialisingInFlight.get() > 0) {
      end(r);
      return null;
    }
    return r;
  }

  /** Unregisters {@code r} and wakes requests waiting for it. */
  void end(Request r) {
    inFlight.remove(r);
    if (r.serialising) {
      serialisingInFlight.decrementAndGet();
    }
    r.finish();
  }

  private void awaitEarlierConflicts(Request r) throws InterruptedException {
    // The iterator sees every request added before it was created, which includes all with smaller tickets.
    for (Request o : inFlight) {
      if (o == r || !r.conflictsWith(o)) {
        continue;
      }
      long t;
      while ((t = o.ticket) == 0) {
        Thread.yield(); // o is between add() and drawing its ticket: a few instructions
      }
      if (t < r.ticket) {
        o.awaitDone();
      }
    }
  }
}
