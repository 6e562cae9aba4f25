package dev.vdisk.ops;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.Backing;
import dev.vdisk.format.FormatImage;
import java.io.IOException;
import java.util.ArrayDeque;

/**
 * Walks a device's {@link BlockStatus} runs in ascending order through its backing chain, asking each layer
 * for its extents once per batch: a walk over an image with n extents costs O(n) extent lookups, not O(n²)
 * as asking "what is at offset x" from scratch each time would.
 *
 * <p>Where a layer has a hole, a walker over its backing image covers the hole (as far as the backing image
 * reaches); past the backing image's end the bytes read as zeroes and count as allocated, as in QEMU.
 *
 * <p>Runs of a qcow2 layer end where its L2 tables' coverage ends, because QEMU's qcow2 driver answers one
 * L2 table at a time: {@code qemu-img compare -s} sees the EOF bit only on a run that reaches the end, so
 * where runs end is visible in its verdicts. Not thread-safe: one walker per consumer.
 */
final class StatusWalker {
  private final BlockDevice device;
  private final long end;
  private final boolean top;
  /** Report where the top layer leaves a range to its backing image instead of walking down (qemu-img convert -B). */
  private final boolean topOnly;
  private final BlockDevice backing;
  private final long backingSize;
  /** The layer's status granularity (a qcow2 layer's L2 table coverage): runs end at multiples of it, or 0. */
  private final long l2Coverage;
  /** Extents fetched and not yet passed; the first covers {@link #pos} when non-empty. */
  private final ArrayDeque<Extent> batch = new ArrayDeque<>();
  /** The next byte {@link #nextRun} describes. */
  private long pos;
  /** Walks the backing image over the current hole, up to {@link #belowEnd}. */
  private StatusWalker below;
  private long belowEnd;
  /** The run returned last, for {@link #at} requests inside it. */
  private BlockStatus last;

  /** A walker over all of {@code device}, the top of a chain. */
  StatusWalker(BlockDevice device) throws IOException {
    this(device, 0, device.size(), true, false);
  }

  /**
   * A walker over the top layer of {@code device} only, as QEMU's {@code bdrv_block_status} of it: a range the top
   * leaves to its backing image (within the backing image's size) is a run that is neither allocated nor zero.
   */
  static StatusWalker topLayer(BlockDevice device) throws IOException {
    return new StatusWalker(device, 0, device.size(), true, true);
  }

  private StatusWalker(BlockDevice device, long start, long end, boolean top, boolean topOnly) throws IOException {
    this.device = device;
    this.end = end;
    this.top = top;
    this.topOnly = topOnly;
    this.pos = start;
    FormatImage image = FilterDevice.find(device, FormatImage.class);
    this.backing = image == null ? null : image.backing().map(Backing::device).orElse(null);
    this.backingSize = backing == null ? 0 : backing.size();
    this.l2Coverage = image == null ? 0 : image.facts().statusGranularity();
  }

  /**
   * The run that contains {@code offset}, starting at {@code offset}. Offsets must not go backwards by more
   * than into the run returned last.
   *
   * @throws IllegalArgumentException for an offset before the last run, or at or past the end
   */
  BlockStatus at(long offset) throws IOException {
    if (offset < 0 || offset >= end || (last != null && offset < last.offset())) {
      throw new IllegalArgumentException("status walk: offset " + offset + " (expected: ascending, below " + end + ")");
    }
    if (last != null && offset < last.end()) {
      return offset == last.offset() ? last : last.from(offset);
    }
    if (offset != pos) {
      batch.clear();
      below = null;
      pos = offset;
    }
    last = nextRun();
    return last;
  }

  private BlockStatus nextRun() throws IOException {
    if (below != null) {
      if (pos < belowEnd) {
        BlockStatus s = below.nextRun();
        pos = s.end();
        return top ? withEof(s) : s;
      }
      below = null;
    }
    Extent e = extentAt(pos);
    long start = pos;
    long length = e.end() - pos;
    BlockStatus s;
    if (e.present()) {
      s = new BlockStatus(start, length, true, e.zero(), e.data(), e.hostOffset() != Extent.NO_OFFSET, false);
    } else if (backing == null) {
      s = new BlockStatus(start, length, false, true, false, false, false);
    } else if (start >= backingSize) {
      s = new BlockStatus(start, length, true, true, false, false, false);
    } else if (topOnly) {
      s = new BlockStatus(start, Math.min(e.end(), backingSize) - start, false, false, false, false, false);
    } else {
      belowEnd = Math.min(e.end(), backingSize);
      below = new StatusWalker(backing, start, belowEnd, false, false);
      return nextRun();
    }
    pos = s.end();
    return top ? withEof(s) : s;
  }

  /** QEMU sets EOF relative to the top image, whichever layer defined the run. */
  private BlockStatus withEof(BlockStatus s) {
    return s.end() == end ? new BlockStatus(s.offset(), s.length(), s.allocated(), s.zero(), s.data(), s.offsetValid(), true) : s;
  }

  private Extent extentAt(long p) throws IOException {
    while (!batch.isEmpty() && batch.peekFirst().end() <= p) {
      batch.pollFirst();
    }
    if (batch.isEmpty()) {
      batch.addAll(device.extents(p, end - p));
    }
    Extent e = batch.peekFirst();
    long stop = e.end();
    if (l2Coverage > 0) {
      stop = Math.min(stop, (p / l2Coverage + 1) * l2Coverage);
    }
    return e.offset() == p && stop == e.end() ? e : e.slice(p, stop - p);
  }
}
