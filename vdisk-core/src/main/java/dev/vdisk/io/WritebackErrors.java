package dev.vdisk.io;

import dev.vdisk.io.linux.FileIo;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Which fdatasync successes of one open file can be trusted, given how Linux reports write-back errors.
 *
 * <p>Linux reports a page that failed to write back to one fdatasync of an open file, and then marks the page clean:
 * a concurrent fdatasync may return success although a write it was meant to cover is lost, and a later one
 * succeeds for good (nothing is left to write back). So, for a file whose writes go through the page cache:
 *
 * <ul>
 *   <li>a flush that succeeds is trusted only once every flush that overlapped it in time has ended without error;
 *       if one failed, this one fails too (conservatively: a failed flush that ended just before it began counts as
 *       overlapping if it began before the oldest flush then running);
 *   <li>a failure is permanent: every later flush fails with it, as QEMU's file-posix does
 *       ({@code page_cache_inconsistent}).
 * </ul>
 *
 * <p>Under O_DIRECT no page of the file's data is written back (a write reports its own error), so nothing is tracked
 * and a flush after a failed one may succeed, as in QEMU.
 *
 * <p>Flushes that run alone cost a monitor round each; one that succeeds while others run waits for those that began
 * before it ended (concurrent fdatasyncs of one file end together, as the journal commits them together).
 */
final class WritebackErrors {
  /** One flush's place: its number and the lowest number running when it began. */
  record Ticket(long number, long oldestRunning) {}

  private static final int MAX_REMEMBERED = 64;

  private final boolean pageCache;
  private final TreeSet<Long> running = new TreeSet<>();
  /** Failed flushes' numbers since the last moment no flush was running or awaiting its verdict; at most a few. */
  private final List<Long> failedTickets = new ArrayList<>();
  /** Set when {@link #failedTickets} would grow past its bound: every success fails until the next quiet moment. */
  private boolean tooManyFailures;
  /** Flushes that returned success and await their verdict. */
  private int deciding;
  private long issued;
  /** The first failure, if any: every later flush fails with it. */
  private IOException firstFailure;

  /** @param pageCache whether the file's writes go through the page cache: else nothing is tracked */
  WritebackErrors(boolean pageCache) {
    this.pageCache = pageCache;
  }

  /**
   * fdatasync of {@code io}, which returns only if it and, for a page-cache file, every fdatasync that overlapped it
   * succeeded.
   *
   * @throws IOException its failure, an overlapping one's, or an earlier failure of a page-cache file
   */
  void fdatasync(FileIo io) throws IOException {
    if (!pageCache) {
      io.fdatasync();
      return;
    }
    Ticket ticket = begin();
    try {
      io.fdatasync();
    } catch (IOException | RuntimeException | Error e) {
      failed(ticket, e instanceof IOException failure ? failure : new IOException(e));
      throw e;
    }
    succeeded(ticket);
  }

  /**
   * Registers a flush about to start.
   *
   * @throws IOException an earlier failure
   */
  private synchronized Ticket begin() throws IOException {
    if (firstFailure != null) {
      throw new IOException("an earlier flush failed, so data written before it may be lost: "
          + firstFailure.getMessage(), firstFailure);
    }
    long number = ++issued;
    running.add(number);
    return new Ticket(number, running.first());
  }

  /** Records that {@code ticket}'s flush failed with {@code failure}. */
  private synchronized void failed(Ticket ticket, IOException failure) {
    running.remove(ticket.number());
    if (failedTickets.size() < MAX_REMEMBERED) {
      failedTickets.add(ticket.number());
    } else {
      tooManyFailures = true;
    }
    forgetIfQuiet();
    if (firstFailure == null) {
      firstFailure = failure;
    }
    notifyAll();
  }

  /**
   * Records that {@code ticket}'s flush returned success, and returns once that success can be trusted.
   *
   * @throws IOException if a flush that overlapped it failed
   */
  private synchronized void succeeded(Ticket ticket) throws IOException {
    running.remove(ticket.number());
    notifyAll();
    long lastOverlapping = issued;
    boolean interrupted = false;
    deciding++;
    try {
      while (!running.isEmpty() && running.first() <= lastOverlapping) {
        try {
          wait();
        } catch (InterruptedException e) {
          interrupted = true; // the flush is done; its verdict must still be given
        }
      }
      boolean overlappedFailure = tooManyFailures;
      for (long failed : failedTickets) {
        overlappedFailure |= failed >= ticket.oldestRunning() && failed <= lastOverlapping;
      }
      if (overlappedFailure) {
        throw new IOException("a concurrent flush of the file failed, so this one may not cover every write");
      }
    } finally {
      deciding--;
      forgetIfQuiet();
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** With no flush running or deciding, no later flush can overlap a recorded failure: forget them. */
  private void forgetIfQuiet() {
    if (running.isEmpty() && deciding == 0) {
      failedTickets.clear();
      tooManyFailures = false;
    }
  }
}
