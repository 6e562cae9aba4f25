package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import java.io.IOException;
import java.util.ArrayDeque;

/**
 * The one walker of a backing chain's allocation: {@link BlockStatus} runs in ascending order over a range of the
 * top image, asking each layer for its extents once per batch: a walk over an image with n extents costs O(n)
 * extent lookups, not O(n²) as asking "what is at offset x" from scratch each time would.
 *
 * <p>Where a layer has a hole, a walker over its backing image covers the hole (as far as the backing image
 * reaches), one layer deeper; what the part past a shorter backing image's end is depends on the {@link Mode}.
 * Not thread-safe: one walker per consumer. A walker caches extents: a consumer that writes into a layer of the
 * chain while walking takes a new walker for each range it asks about.
 */
public final class ChainWalker {
  /** Which of QEMU's status walks to reproduce; each consumer's output depends on the differences. */
  public enum Mode {
    /**
     * {@code qemu-img map}'s walk (its {@code get_block_status}: one layer after the other, down while a layer
     * leaves a range undefined): each layer's extents as it reports them, host offsets of unallocated ranges
     * included. A range no layer defines is unallocated at the deepest layer; past the end of a shorter backing
     * image, unallocated zeroes at the depth of the layer above. Runs end where the layers' extents end. Used by
     * map, the NBD server's block status, commit, rebase and measure.
     */
    LAYERS,
    /**
     * QEMU's {@code bdrv_block_status_above}, which {@code qemu-img convert} and {@code compare} are built on:
     * past the end of a shorter backing image the bytes read as zeroes and count as allocated; a range no layer
     * defines has no host offset. Runs of a layer also end at multiples of its {@link
     * FormatImage#statusGranularity()}, because QEMU's qcow2 driver answers one L2 table at a time: {@code qemu-img
     * compare -s} sees the EOF bit only on a run that reaches the end, so where runs end is visible in its verdicts.
     */
    ABOVE,
    /**
     * {@code bdrv_block_status} of the top layer only ({@code qemu-img convert -B}): as {@link #ABOVE}, except that
     * a range the top leaves to its backing image (within the backing image's size) is a run that is neither
     * allocated nor zero.
     */
    TOP
  }

  private final BlockDevice device;
  private final Mode mode;
  /** The layer this walker walks, 0 for the top. */
  private final int depth;
  private final long end;
  /** The top image's size, for the EOF bit (set by the top walker only). */
  private final long topSize;
  private final BlockDevice backing;
  private final long backingSize;
  /** The layer's status granularity in {@link Mode#ABOVE} and {@link Mode#TOP}: runs end at multiples of it, or 0. */
  private final long granularity;
  /** Extents fetched and not yet passed; the first covers {@link #pos} when non-empty. */
  private final ArrayDeque<Extent> batch = new ArrayDeque<>();
  /** The next byte {@link #nextRun} describes. */
  private long pos;
  /** Walks the backing image over the current hole, up to {@link #belowEnd}. */
  private ChainWalker below;
  private long belowEnd;
  /** The run returned last, for {@link #at} requests inside it. */
  private BlockStatus last;
  /** With a {@link #granularity}: how many of its units the next extent query covers ({@link #queryLength}). */
  private long units = 1;

  /** A walker over all of {@code top}. */
  public static ChainWalker of(BlockDevice top, Mode mode) throws IOException {
    long size = top.size();
    return new ChainWalker(top, mode, 0, 0, size, size);
  }

  /** A walker over {@code [start, end)} of {@code top}, {@code end} at most its size. */
  public static ChainWalker of(BlockDevice top, Mode mode, long start, long end) throws IOException {
    return new ChainWalker(top, mode, 0, start, end, top.size());
  }

  private ChainWalker(BlockDevice device, Mode mode, int depth, long start, long end, long topSize) throws IOException {
    this.device = device;
    this.mode = mode;
    this.depth = depth;
    this.end = end;
    this.topSize = topSize;
    this.pos = start;
    FormatImage image = FilterDevice.find(device, FormatImage.class);
    this.backing = image == null ? null : image.backing().map(Backing::device).orElse(null);
    this.backingSize = backing == null ? 0 : backing.size();
    this.granularity = image == null || mode == Mode.LAYERS ? 0 : image.statusGranularity();
  }

  /**
   * The run that contains {@code offset}, starting at {@code offset} and ending at most at the walk's end. Offsets
   * must not go backwards by more than into the run returned last.
   *
   * @throws IllegalArgumentException for an offset before the last run, or at or past the end
   */
  public BlockStatus at(long offset) throws IOException {
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
        return withEof(s);
      }
      below = null;
    }
    Extent e = extentAt(pos);
    long start = pos;
    long length = e.end() - pos;
    BlockStatus s;
    if (e.present() || (backing == null && mode == Mode.LAYERS)) {
      s = BlockStatus.of(e, depth);
    } else if (backing == null) {
      s = new BlockStatus(start, length, depth, false, true, false, Extent.NO_OFFSET, false);
    } else if (start >= backingSize) {
      s = new BlockStatus(start, length, depth, mode != Mode.LAYERS, true, false, Extent.NO_OFFSET, false);
    } else if (mode == Mode.TOP) {
      s = new BlockStatus(start, Math.min(e.end(), backingSize) - start, depth, false, false, false, Extent.NO_OFFSET,
          false);
    } else {
      belowEnd = Math.min(e.end(), backingSize);
      below = new ChainWalker(backing, mode, depth + 1, start, belowEnd, topSize);
      return nextRun();
    }
    pos = s.end();
    return withEof(s);
  }

  /** QEMU sets EOF relative to the top image, whichever layer defined the run. */
  private BlockStatus withEof(BlockStatus s) {
    return depth == 0 && s.end() == topSize ? s.atEof() : s;
  }

  private Extent extentAt(long p) throws IOException {
    while (!batch.isEmpty() && batch.peekFirst().end() <= p) {
      batch.pollFirst();
    }
    if (batch.isEmpty()) {
      batch.addAll(device.extents(p, queryLength(p)));
    }
    Extent e = batch.peekFirst();
    long stop = e.end();
    if (granularity > 0) {
      stop = Math.min(stop, (p / granularity + 1) * granularity);
    }
    return e.offset() == p && stop == e.end() ? e : e.slice(p, stop - p);
  }

  /**
   * How far the extent query from {@code p} reaches: to the walk's end, or, where runs end at multiples of the
   * {@link #granularity} anyway, to such a multiple: the unit around {@code p} first, then twice as many units each
   * time. Where the query ends is then a run boundary already, so the runs are the same; but the first run is known
   * after one metadata lookup (a qcow2 source's first L2 table) rather than all of them, which a copy waits for before
   * its first write, and a walk over n units still makes about log2(n) queries.
   */
  private long queryLength(long p) {
    long rest = end - p;
    if (granularity <= 0) {
      return rest;
    }
    long unitStart = p - p % granularity;
    long reach = units >= rest / granularity + 1 ? rest : Math.min(rest, unitStart + units * granularity - p);
    units = Math.min(units * 2, 1L << 40);
    return reach;
  }
}
