package dev.vdisk.io;

import dev.vdisk.io.linux.FileIo;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Flushes of one device's file, made so that a success can be trusted although Linux reports a failed write-back to
 * one fdatasync per open file description only.
 *
 * <p><b>What the kernel does.</b> A page whose write-back fails is marked clean (its data is lost to the disk) and the
 * error is recorded in the file's {@code mapping->wb_err}, an {@code errseq_t} (error, counter, "seen" flag), before
 * the page's write-back bit is cleared (ext4's {@code ext4_finish_bio}, and the buffer heads' completion of a block
 * device, call {@code mapping_set_error} before {@code folio_end_writeback}). Each open file description ({@code struct
 * file}) keeps a cursor, {@code f_wb_err}, sampled at open ({@code errseq_sample}: an error nobody has seen yet reads
 * as "before the cursor"). fdatasync runs {@code file_write_and_wait_range}: with {@code WB_SYNC_ALL} it writes every
 * dirty page of the file, waiting first for a page already under write-back, then waits for every page under
 * write-back, and only then calls {@code file_check_and_advance_wb_err}, which returns the error if {@code wb_err}
 * changed since this {@code struct file}'s cursor and moves the cursor. So every failure recorded after a descriptor's
 * previous check is returned by its next check, once; a different descriptor's check does not move this one's cursor.
 * Two fdatasyncs on the SAME descriptor race for one report: the one that checks first takes it, and the other, which
 * may have waited for the very page that failed, returns 0. That is why concurrent flushes do not share a descriptor
 * here.
 *
 * <p><b>What this class does.</b> It holds a fixed set of descriptors of the file, all open from the device's open
 * on: the data path's (under {@code aio=threads} the device's native descriptor, under io_uring the ring's) and
 * read-only ones from {@link HostFile#openSyncDescriptor} (fdatasync needs no write access on Linux). None is a JDK
 * channel, which an interrupt of a flushing thread would close, failing every later flush. A flush takes a free descriptor for itself alone (waiting for one if every one is busy), makes its
 * fdatasync there, and, if that fails, records the failure before it gives the descriptor back. After one failure
 * every later flush fails without reaching the file, as QEMU's file-posix does ({@code page_cache_inconsistent}): the
 * lost page is clean now, and no fdatasync would report it again.
 *
 * <p><b>Why a success covers every write completed before the flush began.</b> Let W be a write that completed before
 * flush F began, F's fdatasync ran on descriptor D, and the write-back that carried W's bytes failed. When W returned,
 * its bytes were in a dirty page, or in one whose write-back began after W dirtied it; F's fdatasync writes the dirty
 * page, or waits for that write-back if it has not ended, so the failure was recorded in {@code wb_err} before F's
 * check. If it was recorded after D's previous check, F's check returns it: F fails. Otherwise D's previous check
 * returned it; that check belonged to an earlier flush on D (D was opened before W, so it was not D's sample at
 * open), which therefore failed and recorded its failure before it freed D, so before F could take D: F fails at its
 * start. Either way no flush that W waits for succeeds. The argument needs every descriptor open before the writes it
 * answers for (a descriptor opened later would take a failure another descriptor has seen for old news), and no
 * other fdatasync on these descriptors: the file's other descriptors (the JDK data channel under {@code aio=threads},
 * and one that replaced it after an interrupt, opened later) and other processes' have cursors of their own and take
 * nothing from these.
 *
 * <p>Checked on Linux 6.18 with real write-back errors ({@code bench/writeback-errors.sh}: ext4 on a loop device cut
 * short under it, as root): a write, then fdatasync on two other descriptors opened before it gave EIO on each, a
 * second fdatasync on either gave 0, one on a descriptor opened afterwards gave 0; 16 writers under writethrough on
 * that file, 300 rounds: with every flush on the data path's descriptor 2 of 4,800 writes were acknowledged whose
 * write-back had failed, with a descriptor per flush none.
 *
 * <p>Under O_DIRECT no page of the file's data is written back (a write reports its own error), so nothing is tracked:
 * flushes share the data path's descriptor, any number at once, and a flush after a failed one may succeed, as in
 * QEMU. Under writethrough a regular file's aligned writes go O_DIRECT too ({@link WritethroughPath}) and report their
 * own failures; its unaligned writes still go through the page cache, so everything above holds for the file.
 */
final class WritebackErrors {
  private final boolean pageCache;
  private final SyncDescriptor dataPath;
  /** Every descriptor, the data path's first; the others are closed by {@link #close}. */
  private final List<SyncDescriptor> all;
  /** The descriptors no flush is using. */
  private final ArrayDeque<SyncDescriptor> free;
  /** The first failure of a page-cache file, if any: every later flush fails with it. */
  private IOException firstFailure;

  /**
   * @param pageCache whether the file's writes go through the page cache: else nothing is tracked and {@code extra}
   *     must be empty
   * @param dataPath the data path, whose fdatasync is one descriptor's; the device closes it
   * @param extra further descriptors of the same file, each for one concurrent flush; owned (closed) by this
   */
  WritebackErrors(boolean pageCache, FileIo dataPath, List<SyncDescriptor> extra) {
    if (!pageCache && !extra.isEmpty()) {
      throw new IllegalArgumentException("O_DIRECT flushes share one descriptor (got " + extra.size() + " more)");
    }
    this.pageCache = pageCache;
    this.dataPath = new SyncDescriptor() {
      @Override
      public void fdatasync() throws IOException {
        dataPath.fdatasync();
      }

      @Override
      public void close() {
        // The device's: closed with it.
      }
    };
    this.all = new ArrayList<>(extra.size() + 1);
    all.add(this.dataPath);
    all.addAll(extra);
    this.free = new ArrayDeque<>(all);
  }

  /** How many flushes may run their fdatasync at once: the descriptors (unbounded under O_DIRECT). */
  int descriptors() {
    return all.size();
  }

  /**
   * fdatasync on a descriptor of the file that no other flush is using, which returns only if it succeeded and, for a
   * page-cache file, no flush failed before.
   *
   * @throws IOException its failure, or an earlier failure of a page-cache file
   */
  void fdatasync() throws IOException {
    if (!pageCache) {
      dataPath.fdatasync();
      return;
    }
    SyncDescriptor descriptor = take();
    try {
      descriptor.fdatasync();
    } catch (IOException | RuntimeException | Error e) {
      failed(e instanceof IOException failure ? failure : new IOException(e));
      throw e;
    } finally {
      give(descriptor); // after failed(): the next flush on this descriptor must see the failure it consumed
    }
  }

  /**
   * A free descriptor, once one is free.
   *
   * @throws IOException an earlier failure
   */
  private synchronized SyncDescriptor take() throws IOException {
    boolean interrupted = false;
    try {
      while (firstFailure == null && free.isEmpty()) {
        try {
          wait();
        } catch (InterruptedException e) {
          interrupted = true; // a flush is not cancelled half-way: the caller sees the flag afterwards
        }
      }
      if (firstFailure != null) {
        throw new IOException("an earlier flush failed, so data written before it may be lost: "
            + firstFailure.getMessage(), firstFailure);
      }
      return free.pop();
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private synchronized void give(SyncDescriptor descriptor) {
    free.push(descriptor);
    notify(); // one waiter can take it; a failure wakes them all (failed)
  }

  private synchronized void failed(IOException failure) {
    if (firstFailure == null) {
      firstFailure = failure;
    }
    notifyAll();
  }

  /** Closes the descriptors this owns (not the data path's); a flush still running on one fails. */
  void close() throws IOException {
    IOException failure = null;
    for (SyncDescriptor d : all.subList(1, all.size())) {
      try {
        d.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }
}
