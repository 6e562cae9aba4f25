package dev.vdisk.block.mem;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A sparse in-memory disk: pages exist only where something non-zero was written. Every verb is native;
 * extents report absent pages as zero holes (like a sparse raw file). Memory use is bounded by the
 * bytes written, never by the size. Like a file, it grows when written past its end (a format on top appends its
 * clusters so); zeroing and discarding past the end change nothing. The reference device of tests and demos.
 */
public final class MemoryDevice implements BlockDevice {
  private static final int PAGE = 4096;
  private static final byte[] ZERO_PAGE = new byte[PAGE];
  /** Pages one extents call looks at before returning early, so a huge query stays cheap. */
  private static final long EXTENT_SCAN_PAGES = 1 << 16;

  private final ConcurrentHashMap<Long, byte[]> pages = new ConcurrentHashMap<>();
  private volatile long size;

  /** An empty device (reads as zeroes) of {@code size} bytes. */
  public MemoryDevice(long size) {
    if (size < 0) {
      throw new IllegalArgumentException("size: " + size + " (expected: >= 0)");
    }
    this.size = size;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public Capabilities capabilities() {
    return Capabilities.ALL_NATIVE;
  }

  @Override
  public BlockLimits limits() {
    return new BlockLimits(1, BlockLimits.DEFAULT_MAX_TRANSFER, PAGE, 1);
  }

  /** An independent device with the same size and contents (a snapshot; later writes to either stay apart). */
  public synchronized MemoryDevice copy() {
    MemoryDevice c = new MemoryDevice(size);
    pages.forEach((k, page) -> c.pages.put(k, page.clone()));
    return c;
  }

  /** Bytes of memory holding data (a multiple of the page size). */
  public long allocatedBytes() {
    return (long) pages.size() * PAGE;
  }

  @Override
  public void read(long offset, ByteBuffer dst) {
    long pos = offset;
    while (dst.hasRemaining()) {
      int in = (int) (pos % PAGE);
      int n = Math.min(PAGE - in, dst.remaining());
      byte[] page = pages.get(pos / PAGE);
      if (page == null) {
        dst.put(ZERO_PAGE, 0, n);
      } else {
        dst.put(page, in, n);
      }
      pos += n;
    }
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) {
    long pos = offset;
    while (src.hasRemaining()) {
      int in = (int) (pos % PAGE);
      int n = Math.min(PAGE - in, src.remaining());
      byte[] page = pages.computeIfAbsent(pos / PAGE, k -> new byte[PAGE]);
      src.get(page, in, n);
      pos += n;
    }
    if (pos > size) {
      grow(pos);
    }
  }

  private synchronized void grow(long end) {
    size = Math.max(size, end);
  }

  @Override
  public void flush() {}

  @Override
  public void discard(long offset, long length) {
    zero(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) {
    zero(offset, length);
  }

  private void zero(long offset, long length) {
    long pos = offset;
    long end = offset + length;
    while (pos < end) {
      int in = (int) (pos % PAGE);
      int n = (int) Math.min(PAGE - in, end - pos);
      if (n == PAGE) {
        pages.remove(pos / PAGE);
      } else {
        byte[] page = pages.get(pos / PAGE);
        if (page != null) {
          java.util.Arrays.fill(page, in, in + n, (byte) 0);
        }
      }
      pos += n;
    }
  }

  @Override
  public List<Extent> extents(long offset, long length) {
    List<Extent> out = new ArrayList<>();
    long pos = offset;
    long end = Math.min(offset + length, (offset / PAGE + EXTENT_SCAN_PAGES) * PAGE);
    while (pos < end) {
      long pageEnd = Math.min(end, (pos / PAGE + 1) * PAGE);
      Extent e = pages.containsKey(pos / PAGE) ? Extent.data(pos, pageEnd - pos, pos) : Extent.zero(pos, pageEnd - pos, pos);
      if (!out.isEmpty() && out.getLast().mergeableWith(e)) {
        out.set(out.size() - 1, out.getLast().merge(e));
      } else {
        out.add(e);
      }
      pos = pageEnd;
    }
    return out;
  }

  @Override
  public synchronized void resize(long newSize) {
    if (newSize < size) {
      long firstGone = (newSize + PAGE - 1) / PAGE;
      pages.keySet().removeIf(k -> k >= firstGone);
      if (newSize % PAGE != 0) {
        byte[] page = pages.get(newSize / PAGE);
        if (page != null) {
          java.util.Arrays.fill(page, (int) (newSize % PAGE), PAGE, (byte) 0);
        }
      }
    }
    size = newSize;
  }

  @Override
  public void close() {}

  @Override
  public String toString() {
    return "MemoryDevice[" + size + "]";
  }
}
