package dev.vdisk.nbd.server;

import dev.vdisk.block.HostRange;
import dev.vdisk.nbd.wire.Wire;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes replies of one connection, each whole and uninterrupted: requests run concurrently and finish in
 * any order, and a reply's header, chunks and data must not interleave with another reply's bytes.
 * Once a write fails (the client went away) every later reply is dropped.
 *
 * <p>Replies of requests that the connection's reader thread runs itself (the {@linkplain #ownedBy owner}) are
 * gathered: a small one is copied into a batch, a larger one goes out together with the batch in one gathering
 * write, and the reader {@linkplain #flush flushes} the batch before it waits for the client. A client that
 * pipelines sixteen 4 KiB reads then gets sixteen replies in one system call instead of sixteen. Replies of other
 * threads are written at once.
 */
final class ReplySender {
  /** Bytes of replies the owner batches before they must go out. */
  static final int BATCH_BYTES = 128 << 10;
  /** Largest reply copied into the batch; a larger one is written from its own buffers. */
  private static final int COPY_MAX = 32 << 10;

  private final Wire wire;
  private final ReentrantLock lock = new ReentrantLock();
  private final ByteBuffer batch;
  /** {@link #batch} alone, as {@link Wire#writeFully} takes it: a flush makes no array. */
  private final ByteBuffer[] batchOnly;
  private Thread owner;
  /** Replies in {@link #batch} (the owner's only). */
  private int batched;
  private volatile boolean broken;

  /** @param batch where the owner's replies wait, {@link #BATCH_BYTES} or more; the caller frees it after the last reply */
  ReplySender(Wire wire, ByteBuffer batch) {
    this.wire = wire;
    this.batch = batch.clear();
    this.batchOnly = new ByteBuffer[] {this.batch};
  }

  /**
   * Makes {@code reader} the thread whose replies are batched: the connection's reader, or the thread of its {@link
   * DirectQueue}; called once, before that thread runs requests (by it, or before it starts).
   */
  void ownedBy(Thread reader) {
    this.owner = reader;
  }

  /** Whether the calling thread is the owner (the connection's reader). */
  boolean ownedByCaller() {
    return Thread.currentThread() == owner;
  }

  /**
   * Sends {@code parts} as one reply (the caller may reuse them on return); returns false if the connection is
   * broken. On the owner thread the reply may wait in the batch until {@link #flush}.
   */
  boolean send(ByteBuffer... parts) {
    if (broken) {
      return false;
    }
    if (Thread.currentThread() == owner) {
      return sendOwned(parts);
    }
    return writeLocked(parts);
  }

  /** {@link #send(ByteBuffer...)} of one buffer, without an array on the owner's path (a reply header alone). */
  boolean send(ByteBuffer only) {
    if (broken) {
      return false;
    }
    if (Thread.currentThread() == owner && only.remaining() <= COPY_MAX && only.remaining() <= batch.remaining()) {
      batch.put(only);
      batched++;
      return true;
    }
    return send(new ByteBuffer[] {only});
  }

  /** {@link #send(ByteBuffer...)} of two buffers, without an array on the owner's path (a header and read data). */
  boolean send(ByteBuffer first, ByteBuffer second) {
    if (broken) {
      return false;
    }
    long n = (long) first.remaining() + second.remaining();
    if (Thread.currentThread() == owner && n <= COPY_MAX && n <= batch.remaining()) {
      batch.put(first).put(second);
      batched++;
      return true;
    }
    return send(new ByteBuffer[] {first, second});
  }

  private boolean sendOwned(ByteBuffer[] parts) {
    long n = 0;
    for (ByteBuffer p : parts) {
      n += p.remaining();
    }
    if (n <= COPY_MAX && n <= batch.remaining()) {
      for (ByteBuffer p : parts) {
        batch.put(p);
      }
      batched++;
      return true;
    }
    ByteBuffer[] gather = new ByteBuffer[parts.length + 1]; // a reply this large costs far more than the array
    gather[0] = batch.flip();
    System.arraycopy(parts, 0, gather, 1, parts.length);
    try {
      return writeLocked(gather);
    } finally {
      batch.clear();
      batched = 0;
    }
  }

  /** Writes {@code parts} under the lock; false (and the connection marked broken) if the write failed. */
  private boolean writeLocked(ByteBuffer... parts) {
    lock.lock();
    try {
      wire.writeFully(parts);
      return true;
    } catch (IOException e) {
      broken = true;
      return false;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Sends {@code header} then the bytes of {@code data} from the host's page cache, as one reply. The wire must
   * {@linkplain Wire#sendsFiles send files}. Returns false if the connection is broken (also when a file ended
   * early, after part of the reply went out: the stream cannot be repaired, so the connection ends).
   */
  boolean sendFile(ByteBuffer header, List<HostRange> data) {
    if (broken) {
      return false;
    }
    boolean owned = Thread.currentThread() == owner;
    lock.lock();
    try {
      if (owned && batch.position() > 0) {
        wire.writeFully(batch.flip(), header);
      } else {
        wire.writeFully(header);
      }
      for (HostRange r : data) {
        wire.transferFully(r.channel(), r.position(), r.length());
      }
      return true;
    } catch (IOException e) {
      broken = true;
      return false;
    } finally {
      lock.unlock();
      if (owned) {
        batch.clear();
        batched = 0;
      }
    }
  }

  /** Writes the owner's batched replies; called by the owner before it waits for anything (by another thread, nothing). */
  void flush() {
    if (Thread.currentThread() != owner || batch.position() == 0) {
      return;
    }
    try {
      if (!broken) {
        batch.flip();
        writeLocked(batchOnly);
      }
    } finally {
      batch.clear();
      batched = 0;
    }
  }

  /** How many of the owner's replies wait in the batch; called by the owner. */
  int batched() {
    return batched;
  }

  boolean broken() {
    return broken;
  }
}
