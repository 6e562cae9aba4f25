package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.nbd.protocol.RequestHeader;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Executes one transmission request against the session's export and sends its one reply. Runs on a
 * request's own thread; many run at once on one connection. Validation of ranges, read-only state and
 * flags below the protocol is the device's guard ({@code CheckedDevice}); this class checks what is NBD's:
 * command flags, negotiated features, payload limits.
 */
final class RequestExecutor {
  /** Command flags each command takes besides FUA, which the protocol allows on every command. */
  private static final int[] EXTRA_FLAGS = new int[NBD_CMD_BLOCK_STATUS + 1];

  static {
    EXTRA_FLAGS[NBD_CMD_READ] = NBD_CMD_FLAG_DF;
    EXTRA_FLAGS[NBD_CMD_WRITE_ZEROES] = NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
    EXTRA_FLAGS[NBD_CMD_BLOCK_STATUS] = NBD_CMD_FLAG_REQ_ONE;
  }

  /**
   * Reads shorter than this are sent as one data chunk without looking for holes: the allocation lookup
   * costs more than the zeroes it could save (it is two more system calls on a raw file).
   */
  static final int SPARSE_READ_MIN = 64 << 10;

  /**
   * Reads at least this long whose bytes sit verbatim in a host file are sent from the page cache (sendfile) instead
   * of being read into a buffer: below it, the extra system call costs more than the copy it saves.
   */
  static final int ZERO_COPY_MIN = 64 << 10;

  private static final Set<WriteFlag> FUA = Set.of(WriteFlag.FUA);

  /** Size of the reader's buffer for reply headers and chunks: an error chunk with the longest message fits. */
  private static final int READER_SMALL = 2048;

  /** Bytes one CACHE request reads at a time. */
  private static final int CACHE_CHUNK = 1 << 20;

  private final Session session;
  private final BlockDevice device;
  private final ReplySender sender;
  private final BufferPool pool;
  private final int maxPayload;
  private final boolean sparseReads;
  private final boolean zeroCopy;
  private final RequestMetrics metrics;
  /** Whether requests are timed for {@link #metrics} (not for {@link RequestMetrics#NONE}: two clock reads a request). */
  private final boolean timed;
  /**
   * The reader thread's own buffers for the requests it runs itself (reply headers and chunks; read data), so that
   * those take nothing from the shared pool, whose lists every connection's threads contend for. Used by that thread
   * only; null once {@link #close}d.
   */
  private ByteBuffer readerSmall;
  private ByteBuffer readerData;
  private boolean readerSmallBusy;
  private boolean readerDataBusy;

  /** @param zeroCopy whether the wire {@linkplain dev.vdisk.nbd.wire.Wire#sendsFiles sends files} */
  RequestExecutor(Session session, ReplySender sender, BufferPool pool, int maxPayload, RequestMetrics metrics,
      boolean zeroCopy) {
    this.zeroCopy = zeroCopy;
    this.session = session;
    this.metrics = metrics;
    this.timed = metrics != RequestMetrics.NONE;
    this.device = session.export().device();
    this.sender = sender;
    this.pool = pool;
    this.maxPayload = maxPayload;
    this.readerSmall = pool.acquire(READER_SMALL);
    this.readerData = pool.acquire(Transmission.INLINE_READ_MAX);
    // Emulated extents say "all data": asking would cost a call and never find a hole.
    this.sparseReads = session.structuredReplies() && device.capabilities().extents() == Support.NATIVE;
  }

  /**
   * Executes {@code r} and replies.
   *
   * @param payload the data of a WRITE (the caller's: it may be a view of the wire's read-ahead), else null
   * @param hostRanges a READ's {@link #hostRanges} if the caller asked for them already, else null
   */
  void execute(RequestHeader r, ByteBuffer payload, List<HostRange> hostRanges) {
    long start = clock();
    int error = 0;
    try {
      check(r);
      switch (r.type()) {
        case NBD_CMD_READ -> read(r, hostRanges);
        case NBD_CMD_WRITE -> {
          device.write(r.offset(), payload, r.has(NBD_CMD_FLAG_FUA) ? FUA : Set.of());
          ok(r);
        }
        case NBD_CMD_FLUSH -> {
          device.flush();
          ok(r);
        }
        case NBD_CMD_TRIM -> trim(r);
        case NBD_CMD_WRITE_ZEROES -> {
          device.writeZeroes(r.offset(), r.length(), zeroFlags(r));
          ok(r);
        }
        case NBD_CMD_BLOCK_STATUS -> blockStatus(r);
        case NBD_CMD_CACHE -> cache(r);
        default -> throw new BlockDeviceException(BlockError.EINVAL, "command " + r.type() + " (expected: a command vdisk supports)");
      }
    } catch (IOException | RuntimeException e) {
      error = failWith(r, e);
    } finally {
      record(r, error, start);
    }
  }

  /** Replies {@code r}'s failure {@code e}: an I/O error's errno, else EIO; returns the error sent. */
  private int failWith(RequestHeader r, Exception e) {
    if (e instanceof IOException io) {
      int error = NbdErrors.errno(io);
      fail(r, error, io.getMessage() == null ? io.toString() : io.getMessage());
      return error;
    }
    fail(r, NBD_EIO, "internal error: " + e);
    return NBD_EIO;
  }

  /** Records {@code r} in the metrics if requests are timed ({@code start}: what {@link #clock} returned). */
  private void record(RequestHeader r, int error, long start) {
    if (timed) {
      metrics.record(session.export().name(), r.type(), error == 0 ? r.length() : 0, System.nanoTime() - start, error);
    }
  }

  /** The start time {@link #finishWrite} takes: the clock if requests are timed, else 0 (no clock read). */
  long clock() {
    return timed ? System.nanoTime() : 0;
  }

  /**
   * Checks WRITE {@code r} whose payload the caller writes in parts ({@link #writePart}) before any part goes to the
   * device: what {@link #execute} checks, and that the whole range is writable (a device's own checks see only one
   * part, which could leave the first parts written where execute writes nothing). Returns the failure, else null.
   */
  Exception startWrite(RequestHeader r) {
    try {
      check(r);
      if (device.capabilities().readOnly()) {
        throw new BlockDeviceException(BlockError.EPERM, "write: device is read-only: " + device);
      }
      long size = device.size();
      if (r.offset() < 0 || r.offset() > size || r.length() > size - r.offset()) {
        throw new BlockDeviceException(BlockError.ENOSPC, "write: offset " + r.offset() + " length " + r.length()
            + " ends beyond the device (expected: end <= size " + size + ")");
      }
      return null;
    } catch (IOException | RuntimeException e) {
      return e;
    }
  }

  /** Writes one part of a WRITE's payload (no FUA: {@link StreamedWrite} takes none); returns the failure, else null. */
  Exception writePart(long offset, ByteBuffer part) {
    try {
      device.write(offset, part, Set.of());
      return null;
    } catch (IOException | RuntimeException e) {
      return e;
    }
  }

  /**
   * Replies to WRITE {@code r}, whose parts were all written if {@code failure} is null, else with that failure's
   * error, as {@link #execute} would; and records it.
   *
   * @param start what {@link #clock} returned before the first part
   */
  void finishWrite(RequestHeader r, Exception failure, long start) {
    int error = 0;
    if (failure == null) {
      ok(r);
    } else {
      error = failWith(r, failure);
    }
    record(r, error, start);
  }

  /**
   * Whether {@link #execute} would send READ {@code r}'s bytes as one data chunk read into a buffer: no look-up of
   * holes, no sending from the page cache. Such a read may run elsewhere ({@link DirectQueue}) and be answered by
   * {@link #finishRead}.
   */
  boolean plainRead(RequestHeader r) {
    long len = r.length();
    return len > 0 && len <= maxPayload && !(sparseReads && len >= SPARSE_READ_MIN) && !(zeroCopy && len >= ZERO_COPY_MIN);
  }

  /** Checks READ {@code r} before its bytes are read elsewhere: what {@link #execute} checks. Returns the failure, else null. */
  Exception startRead(RequestHeader r) {
    try {
      check(r);
      return null;
    } catch (IOException | RuntimeException e) {
      return e;
    }
  }

  /**
   * Replies to a {@link #plainRead} READ {@code r} with {@code data} (its bytes, position to limit) if {@code failure}
   * is null, else with that failure's error, as {@link #execute} would; and records it.
   *
   * @param start what {@link #clock} returned before the read
   */
  void finishRead(RequestHeader r, ByteBuffer data, Exception failure, long start) {
    int error = 0;
    if (failure == null) {
      ByteBuffer header = take(TransmissionCodec.OFFSET_DATA_PREFIX);
      if (session.structuredReplies()) {
        TransmissionCodec.offsetDataPrefix(header, true, r.cookie(), r.offset(), data.remaining());
      } else {
        TransmissionCodec.simpleReply(header, 0, r.cookie());
      }
      send(header, data);
    } else {
      error = failWith(r, failure);
    }
    record(r, error, start);
  }

  /**
   * Runs a READ (into {@code buffer}, filled to its limit) or WRITE without FUA (from {@code buffer}) that {@link
   * #startRead} or {@link #startWrite} passed, through the device's own calls; returns the failure, else null.
   */
  Exception runDirectly(RequestHeader r, ByteBuffer buffer) {
    try {
      if (r.type() == NBD_CMD_READ) {
        device.read(r.offset(), buffer);
      } else {
        device.write(r.offset(), buffer, Set.of());
      }
      return null;
    } catch (IOException | RuntimeException e) {
      return e;
    }
  }

  /** Replies to {@code r} with an error without executing it (a WRITE's payload was already drained). */
  void refuse(RequestHeader r, int errno, String message) {
    fail(r, errno, message);
    metrics.record(session.export().name(), r.type(), 0, 0, errno);
  }

  private void check(RequestHeader r) throws BlockDeviceException {
    int allowed = NBD_CMD_FLAG_FUA | (r.type() < EXTRA_FLAGS.length ? EXTRA_FLAGS[r.type()] : 0);
    if (r.type() == NBD_CMD_READ && !session.structuredReplies()) {
      allowed &= ~NBD_CMD_FLAG_DF;
    }
    if ((r.flags() & ~allowed) != 0) {
      throw new BlockDeviceException(BlockError.EINVAL,
          String.format("command flags: 0x%04x for command %d (expected: a subset of 0x%04x)", r.flags(), r.type(), allowed));
    }
    if ((r.type() == NBD_CMD_READ || r.type() == NBD_CMD_CACHE) && r.length() > maxPayload) {
      throw new BlockDeviceException(BlockError.EINVAL, "length " + r.length() + " (expected: at most " + maxPayload + ")");
    }
  }

  /**
   * Where the bytes of READ {@code r} sit verbatim in host files, if its reply could go out from them (a zero-copy
   * wire, a read long enough to gain from it, a valid range): the ranges {@link #execute} would send, which the caller
   * may pass back to it. Empty otherwise, also when the device refuses the range (execute then replies the error).
   */
  List<HostRange> hostRanges(RequestHeader r) {
    if (!zeroCopy || r.length() < ZERO_COPY_MIN || r.length() > maxPayload) {
      return List.of();
    }
    try {
      return device.hostRanges(r.offset(), r.length());
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  private void read(RequestHeader r, List<HostRange> known) throws IOException {
    int len = (int) r.length();
    List<BlockStatus> runs = sparseReads && len >= SPARSE_READ_MIN ? runs(r.offset(), len) : List.of();
    boolean allZero = runs.size() == 1 && (AllocationMap.flags(runs.getFirst()) & NBD_STATE_ZERO) != 0;
    boolean oneDataChunk = !session.structuredReplies() || (!allZero && (runs.size() <= 1 || r.has(NBD_CMD_FLAG_DF)));
    if (zeroCopy && len >= ZERO_COPY_MIN && oneDataChunk
        && sendFromHost(r, len, known != null ? known : device.hostRanges(r.offset(), len))) {
      return;
    }
    ByteBuffer data = take(len);
    try {
      if (!session.structuredReplies()) {
        device.read(r.offset(), data);
        ByteBuffer header = take(SIMPLE_REPLY_SIZE);
        TransmissionCodec.simpleReply(header, 0, r.cookie());
        send(header, data.flip());
      } else if (len == 0 || (allZero && len > 0)) {
        ByteBuffer b = take(TransmissionCodec.OFFSET_HOLE_CHUNK);
        if (len == 0) {
          TransmissionCodec.done(b, r.cookie());
        } else {
          TransmissionCodec.offsetHole(b, true, r.cookie(), r.offset(), len);
        }
        send(b);
      } else if (runs.size() <= 1 || r.has(NBD_CMD_FLAG_DF)) {
        device.read(r.offset(), data);
        ByteBuffer header = take(TransmissionCodec.OFFSET_DATA_PREFIX);
        TransmissionCodec.offsetDataPrefix(header, true, r.cookie(), r.offset(), len);
        send(header, data.flip());
      } else {
        sendSparse(r, runs, data);
      }
    } finally {
      give(data);
    }
  }

  /**
   * Sends the read's one reply (simple, or one OFFSET_DATA chunk) with its bytes straight from the host file, if
   * the device yielded {@code ranges} ({@link BlockDevice#hostRanges}, whose contract gives what a copy gives); else
   * false and nothing sent.
   */
  private boolean sendFromHost(RequestHeader r, int len, List<HostRange> ranges) {
    if (ranges.isEmpty()) {
      return false;
    }
    ByteBuffer header = take(TransmissionCodec.OFFSET_DATA_PREFIX);
    try {
      if (session.structuredReplies()) {
        TransmissionCodec.offsetDataPrefix(header, true, r.cookie(), r.offset(), len);
      } else {
        TransmissionCodec.simpleReply(header, 0, r.cookie());
      }
      sender.sendFile(header.flip(), ranges);
    } finally {
      give(header);
    }
    return true;
  }

  /** Runs covering exactly {@code [offset, offset + len)}. */
  private List<BlockStatus> runs(long offset, int len) throws IOException {
    List<BlockStatus> all = new ArrayList<>();
    long pos = offset;
    long end = offset + len;
    while (pos < end) {
      List<BlockStatus> got = AllocationMap.describe(device, pos, end - pos);
      all.addAll(got);
      pos = got.getLast().end();
    }
    return all;
  }

  /** One chunk per run: holes as OFFSET_HOLE, the rest read and sent as OFFSET_DATA; the last chunk is DONE. */
  private void sendSparse(RequestHeader r, List<BlockStatus> runs, ByteBuffer data) throws IOException {
    ByteBuffer headers = take(runs.size() * TransmissionCodec.OFFSET_HOLE_CHUNK);
    List<ByteBuffer> parts = new ArrayList<>(2 * runs.size());
    for (int i = 0; i < runs.size(); i++) {
      BlockStatus run = runs.get(i);
      boolean last = i == runs.size() - 1;
      int at = (int) (run.offset() - r.offset());
      int n = (int) run.length();
      int start = headers.position();
      if ((AllocationMap.flags(run) & NBD_STATE_ZERO) != 0) {
        TransmissionCodec.offsetHole(headers, last, r.cookie(), run.offset(), n);
        parts.add(headers.slice(start, headers.position() - start));
      } else {
        ByteBuffer slice = data.slice(at, n);
        device.read(run.offset(), slice);
        TransmissionCodec.offsetDataPrefix(headers, last, r.cookie(), run.offset(), n);
        parts.add(headers.slice(start, headers.position() - start));
        parts.add(slice.flip());
      }
    }
    try {
      sender.send(parts.toArray(ByteBuffer[]::new));
    } finally {
      give(headers);
    }
  }

  private void trim(RequestHeader r) throws IOException {
    if ((session.transmissionFlags() & NBD_FLAG_SEND_TRIM) == 0) {
      throw new BlockDeviceException(device.capabilities().readOnly() ? BlockError.EPERM : BlockError.EINVAL,
          "trim: not offered on this export (expected: no NBD_CMD_TRIM without NBD_FLAG_SEND_TRIM)");
    }
    if (session.export().discard() == DiscardMode.IGNORE) {
      ok(r); // offered and dropped, as qemu-nbd with --discard=ignore
      return;
    }
    device.discard(r.offset(), r.length());
    if (r.has(NBD_CMD_FLAG_FUA) && device.capabilities().flush().available()) {
      device.flush();
    }
    ok(r);
  }

  private Set<WriteFlag> zeroFlags(RequestHeader r) {
    Set<WriteFlag> flags = EnumSet.noneOf(WriteFlag.class);
    if (r.has(NBD_CMD_FLAG_FUA)) {
      flags.add(WriteFlag.FUA);
    }
    if (!r.has(NBD_CMD_FLAG_NO_HOLE) && session.export().discard() == DiscardMode.UNMAP) {
      flags.add(WriteFlag.MAY_TRIM);
    }
    if (r.has(NBD_CMD_FLAG_FAST_ZERO)) {
      flags.add(WriteFlag.FAST_ZERO);
    }
    return flags;
  }

  private void blockStatus(RequestHeader r) throws IOException {
    if (session.contexts().isEmpty()) {
      throw new BlockDeviceException(BlockError.EINVAL, "block status: no metadata context selected (expected: NBD_OPT_SET_META_CONTEXT first)");
    }
    if (r.length() == 0) {
      throw new BlockDeviceException(BlockError.EINVAL, "block status: length 0 (expected: > 0)");
    }
    List<MetaContext> contexts = session.contexts();
    List<BlockStatus> runs = contexts.stream().allMatch(MetaContext::dirtyBitmap) ? List.of()
        : AllocationMap.describe(device, r.offset(), r.length());
    List<int[]> perContext = new ArrayList<>(contexts.size());
    int total = 0;
    for (MetaContext c : contexts) {
      List<long[]> values = new ArrayList<>();
      if (c.dirtyBitmap()) {
        for (long[] run : session.export().bitmap().runs().runs(r.offset(), r.length())) {
          values.add(new long[] {run[1], run[2]});
        }
      } else {
        for (BlockStatus run : runs) {
          int value = c == MetaContext.ALLOCATION ? AllocationMap.flags(run) : AllocationMap.depth(run);
          values.add(new long[] {run.length(), value});
        }
      }
      int[] d = descriptors(values, r.has(NBD_CMD_FLAG_REQ_ONE));
      perContext.add(d);
      total += TransmissionCodec.blockStatusSize(d.length / 2);
    }
    ByteBuffer b = take(total);
    for (int i = 0; i < contexts.size(); i++) {
      int[] d = perContext.get(i);
      TransmissionCodec.blockStatusPrefix(b, i == contexts.size() - 1, r.cookie(), contexts.get(i).id(), d.length / 2);
      for (int j = 0; j < d.length; j += 2) {
        TransmissionCodec.blockDescriptor(b, d[j], d[j + 1]);
      }
    }
    send(b);
  }

  /** Length/value pairs for one context from {@code {length, value}} runs, adjacent runs with the same value merged. */
  private static int[] descriptors(List<long[]> runs, boolean one) {
    long[] lengths = new long[runs.size()];
    int[] values = new int[runs.size()];
    int n = 0;
    for (long[] run : runs) {
      int v = (int) run[1];
      if (n > 0 && values[n - 1] == v) {
        lengths[n - 1] += run[0];
      } else {
        lengths[n] = run[0];
        values[n++] = v;
      }
    }
    n = one ? Math.min(1, n) : n;
    int[] out = new int[2 * n];
    for (int i = 0; i < n; i++) {
      out[2 * i] = (int) lengths[i]; // at most the request's length: fits 32 unsigned bits
      out[2 * i + 1] = values[i];
    }
    return out;
  }

  private void cache(RequestHeader r) throws IOException {
    ByteBuffer scratch = take((int) Math.min(CACHE_CHUNK, Math.max(r.length(), 1)));
    try {
      long pos = r.offset();
      long end = r.offset() + r.length();
      if (pos < 0 || end > device.size()) {
        throw new BlockDeviceException(BlockError.EINVAL,
            "cache: offset " + r.offset() + " length " + r.length() + " (expected: within the export's " + device.size() + " bytes)");
      }
      while (pos < end) {
        int n = (int) Math.min(scratch.capacity(), end - pos);
        device.read(pos, scratch.clear().limit(n));
        pos += n;
      }
    } finally {
      give(scratch);
    }
    ok(r);
  }

  private void ok(RequestHeader r) {
    ByteBuffer b = take(SIMPLE_REPLY_SIZE);
    TransmissionCodec.simpleReply(b, 0, r.cookie());
    send(b);
  }

  /** Sends {@code pooled} (filled from position 0, flipped here) as the whole reply, then returns it to the pool. */
  private void send(ByteBuffer pooled) {
    try {
      sender.send(pooled.flip());
    } finally {
      give(pooled);
    }
  }

  /** Sends {@code pooled} (filled from position 0, flipped here) then {@code data}, then returns {@code pooled} to the pool. */
  private void send(ByteBuffer pooled, ByteBuffer data) {
    try {
      sender.send(pooled.flip(), data);
    } finally {
      give(pooled);
    }
  }

  /** A buffer of {@code n} bytes, position 0: one of the reader's own when the reader asks and it is free, else the pool's. */
  private ByteBuffer take(int n) {
    if (sender.ownedByCaller()) {
      if (!readerSmallBusy && n <= READER_SMALL) {
        readerSmallBusy = true;
        return readerSmall.clear().limit(n);
      }
      if (!readerDataBusy && n <= readerData.capacity()) {
        readerDataBusy = true;
        return readerData.clear().limit(n);
      }
    }
    return pool.acquire(n);
  }

  /** Gives back a buffer from {@link #take}. */
  private void give(ByteBuffer b) {
    if (b == readerSmall) {
      readerSmallBusy = false;
    } else if (b == readerData) {
      readerDataBusy = false;
    } else {
      pool.release(b);
    }
  }

  /** Returns the reader's buffers to the pool; called once, after the connection's last request completed. */
  void close() {
    pool.release(readerSmall);
    pool.release(readerData);
  }

  private void fail(RequestHeader r, int errno, String message) {
    if (session.structuredReplies()) {
      byte[] m = TransmissionCodec.errorMessage(message);
      ByteBuffer b = take(TransmissionCodec.ERROR_CHUNK_FIXED + m.length);
      TransmissionCodec.errorChunk(b, r.cookie(), errno, m);
      send(b);
    } else {
      ByteBuffer b = take(SIMPLE_REPLY_SIZE);
      TransmissionCodec.simpleReply(b, errno, r.cookie());
      send(b);
    }
  }
}
