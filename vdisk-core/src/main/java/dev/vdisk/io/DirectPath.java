package dev.vdisk.io;

import dev.vdisk.io.linux.FileIo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;

/**
 * Positional I/O on an O_DIRECT file for requests of any offset, length and buffer.
 *
 * <p>The JDK refuses direct I/O unless the file position and length are multiples of the alignment and, for
 * direct buffers, the address is too (heap buffers it copies into aligned temporaries itself, as io_uring's {@link dev.vdisk.io.linux.RingFile} does). Requests
 * that meet this go straight through. Others are bounced through aligned native buffers: reads read the
 * enclosing aligned range; writes read-modify-write the partial blocks at either end, serialised by a
 * {@link RequestSerializer} against every other write to those blocks so that none is lost.
 */
final class DirectPath implements DataPath {
  /** Largest bounce buffer: bigger unaligned requests are bounced piecewise. */
  private static final int BOUNCE_MAX = 1 << 20;

  private final FileIo io;
  private final int align;
  private final long deviceEnd;
  private final Overshoot overshoot;
  private final RequestSerializer serializer;

  /** Told when a read-modify-write wrote a whole block that may end past the device's size. */
  @FunctionalInterface
  interface Overshoot {
    /** {@code end} is the end of the aligned range just written. */
    void written(long end) throws IOException;
  }

  /**
   * @param align the direct I/O alignment, a power of two
   * @param deviceEnd where writes stop: a block device's size (the kernel shortens a write that crosses it,
   *     so its tail block may be smaller than {@code align}), or {@link Long#MAX_VALUE} for a file
   */
  DirectPath(FileIo io, int align, long deviceEnd, Overshoot overshoot) {
    this(io, align, deviceEnd, overshoot, new RequestSerializer());
  }

  /** As above, registering its writes in {@code serializer}, which a caller's other writes to the file share. */
  DirectPath(FileIo io, int align, long deviceEnd, Overshoot overshoot, RequestSerializer serializer) {
    if (Integer.bitCount(align) != 1) {
      throw new IllegalArgumentException("alignment: " + align + " (expected: a power of two)");
    }
    this.io = io;
    this.align = align;
    this.deviceEnd = deviceEnd;
    this.overshoot = overshoot;
    this.serializer = serializer;
  }

  /** Reads one aligned block at 0: fails if this file's O_DIRECT alignment is stricter than {@code align}. */
  void probe() throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      readAligned(0, bounce(arena, align));
    }
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int len = dst.remaining();
    if (len == 0) {
      return;
    }
    if (aligned(offset) && aligned(len) && usable(dst)) {
      readAligned(offset, dst);
      return;
    }
    long end = offset + len;
    long start = alignDown(offset);
    long stop = alignUp(end);
    try (Arena arena = Arena.ofConfined()) {
      ByteBuffer bounce = bounce(arena, (int) Math.min(stop - start, Math.max(align, BOUNCE_MAX)));
      for (long p = start; p < stop; ) {
        int n = (int) Math.min(bounce.capacity(), stop - p);
        readAligned(p, bounce.clear().limit(n));
        long from = Math.max(p, offset);
        int count = (int) (Math.min(p + n, end) - from);
        dst.put(dst.position(), bounce, (int) (from - p), count);
        dst.position(dst.position() + count);
        p += n;
      }
    }
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    int len = src.remaining();
    if (len == 0) {
      return;
    }
    long end = offset + len;
    if (aligned(offset) && aligned(len)) {
      RequestSerializer.Request r = serializer.begin(offset, end, false);
      try {
        writeAligned(offset, src);
      } finally {
        serializer.end(r);
      }
      return;
    }
    long start = alignDown(offset);
    long stop = alignUp(end);
    RequestSerializer.Request r = serializer.begin(start, stop, true);
    try (Arena arena = Arena.ofConfined()) {
      ByteBuffer block = bounce(arena, align);
      long pos = offset;
      if (!aligned(offset)) {
        int n = (int) (Math.min(start + align, end) - offset);
        patch(start, block, (int) (offset - start), src, n);
        pos += n;
      }
      long middleEnd = alignDown(end);
      if (pos < middleEnd) {
        int n = (int) (middleEnd - pos);
        writeAligned(pos, src.slice(src.position(), n));
        src.position(src.position() + n);
        pos = middleEnd;
      }
      if (pos < end) {
        patch(pos, block, 0, src, (int) (end - pos));
      }
    } finally {
      serializer.end(r);
    }
    overshoot.written(stop);
  }

  @Override
  public boolean mutate(long offset, long length, Mutation change) throws IOException {
    RequestSerializer.Request r = serializer.begin(offset, offset + length, false);
    try {
      return change.run();
    } finally {
      serializer.end(r);
    }
  }

  /**
   * Registers an aligned write of {@code [offset, end)} that bypasses this path (an asynchronous one), as {@link
   * #write} registers its own; null, registering nothing, where it would first have to wait for a read-modify-write.
   * Pass a non-null result to {@link #endOutside} when the write has completed.
   */
  RequestSerializer.Request tryBeginOutside(long offset, long end) {
    return serializer.tryBegin(offset, end);
  }

  void endOutside(RequestSerializer.Request r) {
    serializer.end(r);
  }

  /** Read-modify-write of the block at {@code blockStart}: {@code n} bytes of {@code src} land at {@code at}. */
  private void patch(long blockStart, ByteBuffer block, int at, ByteBuffer src, int n) throws IOException {
    readAligned(blockStart, block.clear());
    block.put(at, src, src.position(), n);
    src.position(src.position() + n);
    writeAligned(blockStart, block.clear());
  }

  /** Aligned offset and length; bounces {@code dst} if it is a misaligned direct buffer. */
  private void readAligned(long offset, ByteBuffer dst) throws IOException {
    if (!usable(dst)) {
      try (Arena arena = Arena.ofConfined()) {
        ByteBuffer bounce = bounce(arena, Math.min(dst.remaining(), Math.max(align, BOUNCE_MAX)));
        long pos = offset;
        while (dst.hasRemaining()) {
          int n = Math.min(bounce.capacity(), dst.remaining());
          readAligned(pos, bounce.clear().limit(n));
          dst.put(bounce.flip());
          pos += n;
        }
      }
      return;
    }
    long pos = offset;
    while (dst.hasRemaining()) {
      int n = io.read(dst, pos);
      if (n < 0) {
        break;
      }
      pos += n;
      if (!aligned(pos)) {
        break; // a read that ends mid-block stopped at EOF; the next aligned read would be refused
      }
    }
    DataPath.zeroRest(dst);
  }

  /** Aligned offset and length; bounces {@code src} if it is a misaligned direct buffer. */
  private void writeAligned(long offset, ByteBuffer src) throws IOException {
    if (!usable(src)) {
      try (Arena arena = Arena.ofConfined()) {
        ByteBuffer bounce = bounce(arena, Math.min(src.remaining(), Math.max(align, BOUNCE_MAX)));
        long pos = offset;
        while (src.hasRemaining()) {
          int n = Math.min(bounce.capacity(), src.remaining());
          bounce.clear().put(0, src, src.position(), n).limit(n);
          src.position(src.position() + n);
          writeAligned(pos, bounce);
          pos += n;
        }
      }
      return;
    }
    long pos = offset;
    while (src.hasRemaining() && pos < deviceEnd) {
      int n = io.write(src, pos);
      if (n <= 0) {
        throw new IOException("write at offset " + pos + " made no progress");
      }
      pos += n;
    }
    src.position(src.limit()); // anything left lay past the end of a block device: the kernel dropped it
  }

  /** Heap buffers are fine (the JDK copies them into aligned memory); direct ones need an aligned address. */
  private boolean usable(ByteBuffer buf) {
    return !buf.isDirect() || buf.alignmentOffset(buf.position(), align) == 0;
  }

  private ByteBuffer bounce(Arena arena, int size) {
    return arena.allocate(size, align).asByteBuffer();
  }

  private boolean aligned(long value) {
    return (value & (align - 1)) == 0;
  }

  private long alignDown(long value) {
    return value & -align;
  }

  private long alignUp(long value) {
    return (value + align - 1) & -align;
  }
}
