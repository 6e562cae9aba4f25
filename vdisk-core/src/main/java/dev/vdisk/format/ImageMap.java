package dev.vdisk.format;

import dev.vdisk.block.Extent;
import java.io.IOException;

/** {@code qemu-img map}'s walk ({@code img_map}): a chain's status from a start offset, merged as qemu-img merges it. */
public final class ImageMap {
  /** Receives the merged ranges in ascending order, each once it is complete. */
  @FunctionalInterface
  public interface Sink {
    /** Takes the next range. */
    void accept(MapEntry entry) throws IOException;
  }

  private ImageMap() {}

  /**
   * Walks {@code chain} over {@code [start, start + maxLength)} (to the end of the top image when {@code maxLength}
   * is negative or reaches past it), passing each merged range to {@code sink}. As qemu-img, a start at or past
   * the end passes one empty range there. Memory: one entry, plus one batch of the chain's status at a time.
   */
  public static void walk(ImageChain chain, long start, long maxLength, Sink sink) throws IOException {
    long end = chain.layers().getFirst().device().size();
    if (maxLength >= 0) {
      end = Math.min(end, start > Long.MAX_VALUE - maxLength ? Long.MAX_VALUE : start + maxLength);
    }
    MapEntry current = new MapEntry(start, 0, 0, false, false, false, Extent.NO_OFFSET);
    while (current.end() < end) {
      long at = current.end();
      for (ImageChain.Status s : chain.status(at, end - at)) {
        MapEntry next = MapEntry.of(s);
        if (current.mergeableWith(next)) {
          current = current.grow(next.length());
          continue;
        }
        if (current.length() > 0) {
          sink.accept(current);
        }
        current = next;
      }
    }
    sink.accept(current);
  }
}
