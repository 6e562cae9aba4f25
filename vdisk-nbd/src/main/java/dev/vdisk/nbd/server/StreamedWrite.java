package dev.vdisk.nbd.server;

import dev.vdisk.nbd.protocol.RequestHeader;
import dev.vdisk.nbd.wire.Wire;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Runs, on the reader thread, a WRITE whose payload is longer than the wire's read-ahead: each part of the payload
 * goes to the device as it arrives, through one buffer of {@link #CHUNK} bytes, instead of the whole payload being
 * read into a pooled buffer first. A client's socket send buffer holds a few hundred KiB, so a 1 MiB payload comes
 * in several reads with waits between them; written as it comes, the device's copy of one part runs while the client
 * refills its buffer with the next, where reading it whole made the two add up. It costs the same copies, and one
 * device write per part, and each part is still in the CPU's cache when it is written (a 1 MiB buffer is not): 1 MiB
 * writes at depth 4 over a unix socket (raw, writeback, load about 3.2, alternating with reading whole, 2026-12-04)
 * took 230-234 us of server CPU per request against 258-269, and the reader slept 0.2-0.9 times per request
 * against 1.2-1.5; in bench/compare-nbd.sh's 1 MiB write cell (load 1.4-1.8, two rounds each) vdisk went from
 * 0.78-0.83x of nbdkit to 1.05-1.11x, at 0.96-1.00x of its CPU per MB instead of 1.11-1.13x.
 *
 * <p>A payload that fits the buffer is read whole and written at once: split, it would cost more system calls than
 * its wait gains (nbdcopy's 256 KiB writes, whose bytes are mostly in the socket already, took 15-25% more server CPU
 * per MiB as two or three parts). But for the part of it that came in with its header, in the wire's read-ahead: from
 * {@link #IN_PLACE_MIN} bytes on, that part is written from there first ({@link Wire#readView}), then the rest from
 * the buffer, rather than copied into the buffer. Parts end on multiples of the export's
 * {@linkplain Export#preferredBlockSize preferred block size} (a page for a raw file, a cluster for qcow2), so that no
 * part leaves a partial page or cluster for the next one to complete; only the payload's own end may fall elsewhere.
 * Over TLS, whose wire hands out whole buffers ({@link Wire#readAtLeast}), parts are buffers of {@link #CHUNK} bytes. The reply goes out after the whole payload is read: success if every part
 * was written, else the first failure, after which the rest of the payload is read and dropped, which keeps the stream
 * in step. Not for FUA writes nor exports that write through (their requests go to the workers).
 */
final class StreamedWrite {
  /** Bytes of the connection's buffer: the longest part written at once. */
  static final int CHUNK = 256 << 10;
  /**
   * The least of a whole payload's read-ahead bytes written in place, as a part of its own: a second device write
   * costs less than copying this many bytes (nbdcopy file to image, 256 KiB writes, of which the read-ahead held up to
   * 128 KiB: 4% less server CPU per MiB, one write more per request; alternating, loaded, 2026-12-05, issue 16).
   */
  static final int IN_PLACE_MIN = 64 << 10;

  private final Wire wire;
  private final RequestExecutor executor;
  private final BufferPool pool;
  private final int align;
  /** Taken from the pool on first use, given back by {@link #close}. */
  private ByteBuffer chunk;

  StreamedWrite(Wire wire, RequestExecutor executor, BufferPool pool, int align) {
    this.wire = wire;
    this.executor = executor;
    this.pool = pool;
    this.align = align;
  }

  /** Whether this class takes payloads of the export (its parts' alignment leaves room in the buffer to read ahead). */
  static boolean fits(int align) {
    return align > 0 && Integer.bitCount(align) == 1 && align <= CHUNK / 4;
  }

  /**
   * Reads {@code r}'s payload from the wire, writes it to the device part by part, and replies.
   *
   * @throws IOException if reading from the wire failed (the stream is then broken; no reply was sent)
   */
  void run(RequestHeader r) throws IOException {
    long start = executor.clock();
    Exception failure = executor.startWrite(r);
    if (chunk == null) {
      chunk = pool.acquire(CHUNK);
    }
    ByteBuffer b = chunk.clear();
    long pos = r.offset(); // payload bytes before pos are written (or dropped); b holds those from pos
    long left = r.length(); // payload bytes from pos on
    boolean whole = left <= b.capacity();
    if (whole) {
      int k = (int) (((pos + Math.min(wire.buffered(), left)) & -align) - pos); // ends on a boundary, as parts do
      ByteBuffer view = k >= IN_PLACE_MIN ? wire.readView(k) : null; // null only over TLS (whole buffers)
      if (view != null) {
        if (failure == null) {
          failure = executor.writePart(pos, view);
        }
        pos += k;
        left -= k;
      }
    }
    while (left > 0) {
      int held = b.position();
      if (held < left) {
        int room = (int) Math.min(b.capacity() - held, left - held);
        long nextBoundary = (pos & -align) + align;
        int min = whole ? room : (int) Math.max(1, Math.min(room, nextBoundary - pos - held));
        b.limit(held + room);
        wire.readAtLeast(b, min);
        held = b.position();
      }
      int n = held == left ? held : (int) (((pos + held) & -align) - pos);
      if (n <= 0) {
        continue; // the next boundary has not arrived yet
      }
      b.flip().limit(n);
      if (failure == null) {
        failure = executor.writePart(pos, b);
      }
      b.limit(held).position(n);
      b.compact();
      pos += n;
      left -= n;
    }
    executor.finishWrite(r, failure, start);
  }

  /** Gives the buffer back; called once, after the connection's last request. */
  void close() {
    if (chunk != null) {
      pool.release(chunk);
      chunk = null;
    }
  }
}
