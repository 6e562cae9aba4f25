package dev.vdisk.ops.internal;

import dev.vdisk.io.linux.ZeroBytes;
import dev.vdisk.ops.ConvertOptions;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.util.Arrays;

/**
 * Finds the runs of a data buffer that {@code qemu-img convert} writes as data and the runs it skips (or
 * zeroes) as sparse: a port of qemu-img's {@code is_allocated_sectors_min}, so that vdisk's outputs are
 * allocated exactly where qemu-img's are. It works in 512-byte sectors, ignores runs of zero sectors shorter
 * than the threshold inside data, and aligns run ends to the target's alignment (data ends round up, zero
 * ends round down). Zero runs are measured with a comparison against zeroes, a window at a time, which stops at the
 * first nonzero byte: the C library's in direct buffers ({@link ZeroBytes}), {@link MemorySegment#mismatch} in heap
 * buffers and in the one window that holds the run's end; a data sector is told by its first eight
 * bytes, read in a loop that C1 alone compiles well (see {@link #skipHeads(MappedByteBuffer, int, int, int)}). A
 * buffer of data, the usual case, is told whole by one sector per threshold ({@link #noLongZeroRun}), which qemu-img's
 * walk of every sector would find to be data throughout.
 */
final class SparseScanner {
  static final int SECTOR = ConvertOptions.SECTOR;

  /** What {@link #firstNonZero} compares with, a window at a time. */
  private static final MemorySegment ZEROES = MemorySegment.ofArray(new byte[64 * 1024]);

  private final int minSectors;
  private final int alignment;

  /**
   * @param minSectors the {@code -S} threshold in sectors, positive
   * @param alignment sectors, a power of two: qemu-img's {@code MAX(pow2floor(min_sparse), request_alignment / 512)}
   */
  SparseScanner(int minSectors, int alignment) {
    if (minSectors < 1 || alignment < 1 || Integer.bitCount(alignment) != 1) {
      throw new IllegalArgumentException("sparse scanner: min " + minSectors + " alignment " + alignment
          + " (expected: min >= 1, alignment a power of two)");
    }
    this.minSectors = minSectors;
    this.alignment = alignment;
  }

  /** qemu-img's alignment for a threshold and the target's request alignment in bytes. */
  static int alignment(int minSectors, int targetRequestAlignment) {
    return Math.max(Integer.highestOneBit(minSectors), Math.ceilDiv(targetRequestAlignment, SECTOR));
  }

  /**
   * The run at the start of {@code buf[from, from + bytes)}: positive = that many sectors to write as data,
   * negative = that many sectors to treat as zeroes. A partial last sector counts as a sector. Indices are absolute:
   * {@code buf}'s position and limit do not matter.
   *
   * @param sectorNum the absolute sector number of {@code from} in the image (for alignment)
   */
  int next(ByteBuffer buf, int from, int bytes, long sectorNum) {
    // Native order: a test against zero does not care, and a big-endian read calls Long.reverseBytes under C1.
    ByteBuffer all = buf.duplicate().clear().order(ByteOrder.nativeOrder());
    MemorySegment seg = MemorySegment.ofBuffer(all);
    int n = Math.ceilDiv(bytes, SECTOR);
    int min = Math.min(minSectors, n);
    if (noLongZeroRun(all, seg, from, bytes, n, min)) {
      return n;
    }
    int first = allocated(all, seg, from, bytes, n, sectorNum);
    if (first < 0) {
      return first;
    }
    int used = first;
    int checked = first;
    while (checked < n) {
      int r = allocated(all, seg, from + checked * SECTOR, bytes - checked * SECTOR, n - checked, sectorNum + checked);
      checked += Math.abs(r);
      if (r > 0) {
        used = checked;
      } else if (-r >= min) {
        break;
      }
    }
    return used;
  }

  /**
   * The runs of {@code buf[0, length)} that a copy writes as data (positive: that many sectors) and treats as zeroes
   * (negative), in order, as successive {@link #next} calls give them; the last run's sectors may reach past
   * {@code length} (a partial last sector). A convert computes them before its turn to write, so that the scan runs
   * while another chunk is being written.
   *
   * @param sectorNum the absolute sector number of {@code buf}'s index 0 in the image (for alignment)
   */
  int[] runs(ByteBuffer buf, int length, long sectorNum) {
    int[] runs = new int[1];
    int count = 0;
    int pos = 0;
    while (pos < length) {
      int run = next(buf, pos, length - pos, sectorNum + pos / SECTOR);
      if (count == runs.length) {
        runs = Arrays.copyOf(runs, count * 2);
      }
      runs[count++] = run;
      pos += Math.min(Math.abs(run) * SECTOR, length - pos);
    }
    return count == runs.length ? runs : Arrays.copyOf(runs, count);
  }

  /**
   * True if the first and last sectors hold data and so does every {@code min}-th sector between: then the buffer has
   * no run of {@code min} zero sectors (any such run would hold a probed sector) and none at either end, and qemu-img's
   * walk, whose zero runs all lie inside zero runs of the buffer, can only end with the whole buffer as data, its
   * short zero runs included (it breaks off at a zero run of {@code min} sectors only, and leaves out a trailing one).
   * So data, the usual case, costs one probe per {@code min} sectors (per page at the default {@code -S 4k}) instead of
   * one per sector; a false answer only sends the buffer through the full walk.
   */
  private static boolean noLongZeroRun(ByteBuffer all, MemorySegment seg, int from, int bytes, int n, int min) {
    if (isZeroSector(all, seg, from, bytes, n - 1)) {
      return false;
    }
    for (int i = 0; i < n - 1; i += min) {
      if (isZeroSector(all, seg, from, bytes, i)) {
        return false;
      }
    }
    return true;
  }

  /** qemu-img's is_allocated_sectors: the aligned run of equal zero-ness at the start, signed as in {@link #next}. */
  private int allocated(ByteBuffer all, MemorySegment seg, int from, int bytes, int n, long sectorNum) {
    boolean isZero = isZeroSector(all, seg, from, bytes, 0);
    int i;
    if (isZero) {
      // The zero sectors end at the sector that holds the first nonzero byte: one vectorised scan finds it, where a
      // sector-by-sector test would start over every 512 bytes (a chunk of zeroes is one call).
      long nonZero = firstNonZero(seg, from, bytes);
      i = nonZero < 0 ? n : (int) (nonZero / SECTOR);
    } else {
      // Sectors below `heads` have eight bytes to read at their start; a sector whose first eight are zero is checked
      // whole, as is a last sector shorter than that.
      int heads = bytes < Long.BYTES ? 0 : Math.min(n, (bytes - Long.BYTES) / SECTOR + 1);
      i = 1;
      while (i < n) {
        i = skipHeads(all, from, i, heads);
        if (i == n || isZeroSector(all, seg, from, bytes, i)) {
          break;
        }
        i++;
      }
    }
    if (i == n) {
      // QEMU 7.0 on: a buffer all of one kind is one run, unaligned or not (zeroes may join the next chunk's).
      return isZero ? -i : i;
    }
    int tail = (int) ((sectorNum + i) & (alignment - 1));
    if (tail != 0) {
      if (isZero && i <= tail) {
        isZero = false; // a short zero run that does not reach an aligned boundary: write it with the data
      }
      if (!isZero) {
        i = Math.min(i + alignment - tail, n);
      } else {
        i -= tail;
      }
    }
    return isZero ? -i : i;
  }

  /** The first sector of {@code [i, end)} whose first eight bytes are zero, or {@code end}. */
  private static int skipHeads(ByteBuffer b, int from, int i, int end) {
    if (b instanceof MappedByteBuffer m) {
      return skipHeads(m, from, i, end);
    }
    int at = from + i * SECTOR;
    while (i < end && b.getLong(at) != 0) {
      i++;
      at += SECTOR;
    }
    return i;
  }

  /**
   * {@link #skipHeads(ByteBuffer, int, int, int)} for direct buffers and mappings, the copy's buffers. The same loop,
   * but {@code getLong} has one implementation below MappedByteBuffer (below ByteBuffer it has several), so C1 inlines
   * it instead of calling it per sector: 64 instructions a sector rather than 229 through a MemorySegment's VarHandle
   * (callgrind, C1 only), on the path that runs for every 512 bytes of data a convert copies.
   */
  private static int skipHeads(MappedByteBuffer b, int from, int i, int end) {
    int at = from + i * SECTOR;
    while (i < end && b.getLong(at) != 0) {
      i++;
      at += SECTOR;
    }
    return i;
  }

  private static boolean isZeroSector(ByteBuffer all, MemorySegment seg, int from, int bytes, int sector) {
    int start = from + sector * SECTOR;
    int len = Math.min(SECTOR, bytes - sector * SECTOR);
    // Data sectors almost always show it in their first eight bytes: no call into the vectorised scan for them.
    if (len >= Long.BYTES && all.getLong(start) != 0) {
      return false;
    }
    return firstNonZero(seg, start, len) < 0;
  }

  /** True if {@code buf[from, from + len)} holds only zero bytes (absolute indices, as {@link #next}). */
  static boolean isZero(ByteBuffer buf, int from, int len) {
    return firstNonZero(segment(buf), from, len) < 0;
  }

  /**
   * The offset from {@code from} of the first nonzero byte of {@code seg[from, from + len)}, or -1 if all are zero. In
   * native memory (a direct buffer: every buffer convert reads into) the C library's compare ({@link ZeroBytes}) first
   * tells the whole range, then each window, zero or not, and only the first window that is not zero is searched for its
   * first nonzero byte: a chunk of zeroes is one call.
   */
  private static long firstNonZero(MemorySegment seg, long from, long len) {
    boolean nativeCompare = seg.isNative() && ZeroBytes.available();
    if (nativeCompare && ZeroBytes.isZero(seg, from, len)) {
      return -1;
    }
    for (long done = 0; done < len; done += ZEROES.byteSize()) {
      long step = Math.min(ZEROES.byteSize(), len - done);
      if (nativeCompare && ZeroBytes.isZero(seg, from + done, step)) {
        continue;
      }
      long m = MemorySegment.mismatch(seg, from + done, from + done + step, ZEROES, 0, step);
      if (m >= 0) {
        return done + m;
      }
    }
    return -1;
  }

  /** {@code buf} from index 0 to its capacity, whatever its position and limit (a buffer just read into is spent). */
  private static MemorySegment segment(ByteBuffer buf) {
    return MemorySegment.ofBuffer(buf.duplicate().clear());
  }
}
