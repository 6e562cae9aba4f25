package dev.vdisk.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The guard on top of every stack, and the only layer that validates requests.
 *
 * <p>It rejects requests outside the device, misaligned for the layer below, with flags the verb does not
 * take, or writes to a read-only device, each with a {@link BlockDeviceException} that names the value
 * and what was expected; {@link WriteFlag#COMPRESSED} only where the layer below stores compressed data, and only
 * in whole {@link BlockLimits#compressionUnit() units}. It splits transfers larger than the layer's {@link BlockLimits#maxTransfer()},
 * and emulates what the layer below lacks: FUA by a flush after the write, zeroes by writing zero
 * buffers, extents as "all data". Layers below may therefore trust every request they receive.
 */
public final class CheckedDevice extends FilterDevice {
  /** Zero-filled, never written: the source of emulated zero writes. */
  private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

  private static final Set<WriteFlag> ZERO_FLAGS = EnumSet.of(WriteFlag.FUA, WriteFlag.MAY_TRIM, WriteFlag.FAST_ZERO);

  private final Capabilities below;
  private final Capabilities offered;
  private final BlockLimits belowLimits;
  /** FUA, and COMPRESSED where the layer below stores compressed data. */
  private final Set<WriteFlag> writeFlags;
  private volatile boolean closed;

  /** Guards {@code next}; read-only if {@code readOnly} or if {@code next} is. */
  public CheckedDevice(BlockDevice next, boolean readOnly) {
    super(next);
    this.below = next.capabilities();
    this.belowLimits = next.limits();
    Support fua = below.fua() == Support.NATIVE ? Support.NATIVE
        : below.flush() == Support.NONE ? Support.NATIVE : Support.EMULATED;
    this.offered = new Capabilities(
        readOnly || below.readOnly(),
        below.flush(),
        fua,
        below.discard(),
        below.writeZeroes().available() ? below.writeZeroes() : Support.EMULATED,
        below.fastZero(),
        below.extents().available() ? below.extents() : Support.EMULATED,
        below.compressedWrites().available() && belowLimits.compressionUnit() > 0 ? Support.NATIVE : Support.NONE);
    this.writeFlags = offered.compressedWrites().available()
        ? EnumSet.of(WriteFlag.FUA, WriteFlag.COMPRESSED) : EnumSet.of(WriteFlag.FUA);
  }

  /** Guards {@code next}; read-only if {@code next} is. */
  public CheckedDevice(BlockDevice next) {
    this(next, false);
  }

  @Override
  public Capabilities capabilities() {
    return offered;
  }

  /** The layer's limits, except that this guard splits transfers of any size up to {@link BlockLimits#DEFAULT_MAX_TRANSFER}. */
  @Override
  public BlockLimits limits() {
    return new BlockLimits(belowLimits.requestAlignment(), Math.max(belowLimits.maxTransfer(), BlockLimits.DEFAULT_MAX_TRANSFER),
        belowLimits.discardGranularity(), belowLimits.optimalAlignment(),
        offered.compressedWrites().available() ? belowLimits.compressionUnit() : 0);
  }

  @Override
  public long size() throws IOException {
    open("size");
    return next.size();
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    checkRange("read", offset, dst.remaining(), BlockError.EINVAL);
    checkAligned("read", offset, dst.remaining());
    int max = belowLimits.maxTransfer();
    int end = dst.limit();
    long pos = offset;
    while (dst.position() < end) {
      int n = Math.min(max, end - dst.position());
      dst.limit(dst.position() + n);
      next.read(pos, dst);
      dst.limit(end);
      pos += n;
    }
  }

  /**
   * The asynchronous queue of the layer below, if it has one, behind this guard's checks: a request they refuse
   * completes with the exception {@link #read} or {@link #write} would throw; one larger than the layer's
   * maxTransfer runs through those calls.
   */
  @Override
  public RequestQueue queue(int depth) throws IOException {
    open("queue");
    RequestQueue below = next.queue(depth);
    return below == null ? null : new ForwardingQueue(below) {
      @Override
      public void read(long offset, ByteBuffer dst, int tag) throws IOException {
        try {
          checkRange("read", offset, dst.remaining(), BlockError.EINVAL);
          checkAligned("read", offset, dst.remaining());
        } catch (IOException e) {
          refuse(tag, e);
          return;
        }
        if (dst.remaining() > belowLimits.maxTransfer()) {
          runBeside(tag, () -> CheckedDevice.this.read(offset, dst));
        } else {
          super.read(offset, dst, tag);
        }
      }

      @Override
      public void write(long offset, ByteBuffer src, int tag) throws IOException {
        try {
          checkWritable("write");
          checkRange("write", offset, src.remaining(), BlockError.ENOSPC);
          checkAligned("write", offset, src.remaining());
        } catch (IOException e) {
          refuse(tag, e);
          return;
        }
        if (src.remaining() > belowLimits.maxTransfer()) {
          runNow(tag, () -> CheckedDevice.this.write(offset, src, Set.of()));
        } else {
          super.write(offset, src, tag);
        }
      }
    };
  }

  /** The layer's ranges after the checks a {@link #read} of the range gets. */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    checkRange("read", offset, length, BlockError.EINVAL);
    checkAligned("read", offset, length);
    return next.hostRanges(offset, length);
  }

  /** The lower layer's copy, after the checks a {@link #write} of the range gets. */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    checkWritable("write");
    checkRange("write", offset, src.length(), BlockError.ENOSPC);
    return next.writeFrom(offset, src);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    checkWritable("write");
    checkFlags("write", flags, writeFlags);
    checkRange("write", offset, src.remaining(), BlockError.ENOSPC);
    checkAligned("write", offset, src.remaining());
    if (flags.contains(WriteFlag.COMPRESSED)) {
      checkWholeUnits(offset, src.remaining());
    }
    boolean emulateFua = flags.contains(WriteFlag.FUA) && below.fua() != Support.NATIVE;
    Set<WriteFlag> down = emulateFua ? WriteFlag.withoutFua(flags) : flags;
    int max = belowLimits.maxTransfer();
    if (flags.contains(WriteFlag.COMPRESSED)) {
      max -= max % belowLimits.compressionUnit();
    }
    int end = src.limit();
    long pos = offset;
    while (src.position() < end) {
      int n = Math.min(max, end - src.position());
      src.limit(src.position() + n);
      next.write(pos, src, down);
      src.limit(end);
      pos += n;
    }
    if (emulateFua) {
      flushBelow();
    }
  }

  @Override
  public void flush() throws IOException {
    open("flush");
    flushBelow();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    checkWritable("discard");
    checkRange("discard", offset, length, BlockError.EINVAL);
    if (length > 0 && below.discard().available()) {
      next.discard(offset, length);
    }
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    checkWritable("writeZeroes");
    checkFlags("writeZeroes", flags, ZERO_FLAGS);
    checkRange("writeZeroes", offset, length, BlockError.ENOSPC);
    checkAligned("writeZeroes", offset, length);
    if (length == 0) {
      return;
    }
    if (flags.contains(WriteFlag.FAST_ZERO) && !below.fastZero().available()) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "writeZeroes: FAST_ZERO not supported by " + next);
    }
    boolean emulateFua = flags.contains(WriteFlag.FUA) && below.fua() != Support.NATIVE;
    if (below.writeZeroes().available()) {
      next.writeZeroes(offset, length, emulateFua ? WriteFlag.withoutFua(flags) : flags);
    } else {
      int chunk = Math.min(ZEROES.capacity(), belowLimits.maxTransfer());
      long pos = offset;
      long left = length;
      while (left > 0) {
        int n = (int) Math.min(chunk, left);
        next.write(pos, ZEROES.duplicate().limit(n), Set.of());
        pos += n;
        left -= n;
      }
    }
    if (emulateFua) {
      flushBelow();
    }
  }

  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    checkRange("extents", offset, length, BlockError.EINVAL);
    if (length == 0) {
      throw new BlockDeviceException(BlockError.EINVAL, "extents: length 0 (expected: > 0)");
    }
    if (!below.extents().available()) {
      return List.of(Extent.data(offset, length, Extent.NO_OFFSET));
    }
    List<Extent> got = next.extents(offset, length);
    long end = offset + length;
    List<Extent> out = new ArrayList<>(got.size());
    long expect = offset;
    for (Extent e : got) {
      if (e.offset() != expect) {
        throw new BlockDeviceException(BlockError.EIO,
            "extents: " + next + " returned an extent at " + e.offset() + " (expected: " + expect + ", contiguous)");
      }
      if (e.end() >= end) {
        e = e.end() > end ? e.slice(e.offset(), end - e.offset()) : e;
      }
      if (!out.isEmpty() && out.getLast().mergeableWith(e)) {
        out.set(out.size() - 1, out.getLast().merge(e));
      } else {
        out.add(e);
      }
      expect = e.end();
      if (expect == end) {
        break;
      }
    }
    if (out.isEmpty()) {
      throw new BlockDeviceException(BlockError.EIO, "extents: " + next + " returned no extents for offset " + offset);
    }
    return out;
  }

  @Override
  public void resize(long newSize) throws IOException {
    checkWritable("resize");
    if (newSize < 0) {
      throw new BlockDeviceException(BlockError.EINVAL, "resize: size " + newSize + " (expected: >= 0)");
    }
    next.resize(newSize);
  }

  @Override
  public void close() throws IOException {
    if (!closed) {
      closed = true;
      next.close();
    }
  }

  @Override
  public String toString() {
    return "Checked(" + next + ")";
  }

  private void flushBelow() throws IOException {
    if (below.flush().available()) {
      next.flush();
    }
  }

  private void open(String op) throws BlockDeviceException {
    if (closed) {
      throw new BlockDeviceException(BlockError.ESHUTDOWN, op + ": device is closed: " + next);
    }
  }

  private void checkWritable(String op) throws BlockDeviceException {
    open(op);
    if (offered.readOnly()) {
      throw new BlockDeviceException(BlockError.EPERM, op + ": device is read-only: " + next);
    }
  }

  private static void checkFlags(String op, Set<WriteFlag> flags, Set<WriteFlag> allowed) throws BlockDeviceException {
    // No flags (nearly every request) is a subset of any: containsAll would allocate an iterator of flags per request.
    if (!flags.isEmpty() && !allowed.containsAll(flags)) {
      throw new BlockDeviceException(BlockError.EINVAL, op + ": flags " + flags + " (expected: a subset of " + allowed + ")");
    }
  }

  private void checkRange(String op, long offset, long length, BlockError pastEnd) throws IOException {
    open(op);
    if (offset < 0 || length < 0) {
      throw new BlockDeviceException(BlockError.EINVAL,
          op + ": offset " + offset + " length " + length + " (expected: both >= 0)");
    }
    long size = next.size();
    if (offset > size || length > size - offset) {
      throw new BlockDeviceException(pastEnd,
          op + ": offset " + offset + " length " + length + " ends beyond the device (expected: end <= size " + size + ")");
    }
  }

  /** A compressed write covers whole compression units; only the last unit of the device may be partial. */
  private void checkWholeUnits(long offset, long length) throws IOException {
    long unit = belowLimits.compressionUnit();
    boolean endsAtEnd = offset + length == next.size();
    if (offset % unit != 0 || length % unit != 0 && !endsAtEnd) {
      throw new BlockDeviceException(BlockError.EINVAL, "write: COMPRESSED at offset " + offset + " length " + length
          + " (expected: whole units of " + unit + " bytes from a multiple of " + unit + "; only the last may end early, at the device's end)");
    }
  }

  private void checkAligned(String op, long offset, long length) throws BlockDeviceException {
    int a = belowLimits.requestAlignment();
    if (a > 1 && ((offset | length) & (a - 1)) != 0) {
      throw new BlockDeviceException(BlockError.EINVAL,
          op + ": offset " + offset + " length " + length + " (expected: multiples of " + a + ")");
    }
  }
}
