package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import java.io.IOException;

/** {@code qemu-img map}'s walk ({@code img_map}): a chain's status from a start offset, merged as qemu-img merges it. */
public final class ImageMap {
  /** Receives the merged ranges in ascending order, each once it is complete. */
  @FunctionalInterface
  public interface Sink {
    /** Takes the next range. */
    void accept(BlockStatus range) throws IOException;
  }

  private ImageMap() {}

  /**
   * Walks {@code chain} ({@link ChainWalker.Mode#LAYERS}) over {@code [start, start + maxLength)}
   * (to the end of the top image when {@code maxLength} is negative or reaches past it), passing each merged range to
   * {@code sink}. As qemu-img, a start at or past the end passes one empty range there. Memory: one range, plus one
   * batch of each layer's extents at a time.
   */
  public static void walk(ImageChain chain, long start, long maxLength, Sink sink) throws IOException {
    BlockDevice top = chain.layers().getFirst().device();
    long end = top.size();
    if (maxLength >= 0) {
      end = Math.min(end, start > Long.MAX_VALUE - maxLength ? Long.MAX_VALUE : start + maxLength);
    }
    BlockStatus current = new BlockStatus(start, 0, 0, false, false, false, Extent.NO_OFFSET, false);
    ChainWalker walker = start < end ? ChainWalker.of(top, ChainWalker.Mode.LAYERS, start, end) : null;
    while (current.end() < end) {
      BlockStatus next = walker.at(current.end());
      if (mergeable(current, next)) {
        current = current.grow(next.length(), next.eof());
        continue;
      }
      if (current.length() > 0) {
        sink.accept(current);
      }
      current = next;
    }
    sink.accept(current);
  }

  /** qemu-img's {@code entry_mergeable}: same bits and depth, and host offsets (if any) continuing. */
  private static boolean mergeable(BlockStatus s, BlockStatus next) {
    if (s.length() == 0 || s.zero() != next.zero() || s.data() != next.data() || s.depth() != next.depth()
        || s.allocated() != next.allocated()) {
      return false;
    }
    if (s.hasOffset() != next.hasOffset()) {
      return false;
    }
    return !s.hasOffset() || s.hostOffset() + s.length() == next.hostOffset();
  }
}
