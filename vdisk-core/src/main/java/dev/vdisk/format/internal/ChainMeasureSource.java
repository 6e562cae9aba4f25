package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.MeasureSource;
import java.io.IOException;

/** An image {@code qemu-img measure} measures, seen through its whole backing chain. */
public record ChainMeasureSource(ImageChain chain) implements MeasureSource {
  @Override
  public long size() throws IOException {
    return chain.layers().getFirst().device().size();
  }

  /** qcow2_measure's loop: each data range counts from the start of its first unit to the end of its last. */
  @Override
  public long dataBytes(long unit) throws IOException {
    long end = size();
    long bytes = 0;
    long countedUpTo = 0;
    ChainWalker walker = ChainWalker.of(chain.layers().getFirst().device(), ChainWalker.Mode.LAYERS);
    for (long at = 0; at < end; ) {
      BlockStatus s = walker.at(at);
      if (s.data() && !s.zero()) {
        long from = Math.max(Math.floorDiv(s.offset(), unit) * unit, countedUpTo);
        long to = Math.ceilDiv(s.end(), unit) * unit;
        if (to > from) {
          bytes += to - from;
          countedUpTo = to;
        }
      }
      at = s.end();
    }
    return bytes;
  }

  @Override
  public boolean supportsBitmaps() {
    FormatImage top = FilterDevice.find(chain.layers().getFirst().device(), FormatImage.class);
    return top != null && top.supportsBitmaps();
  }

  /** 0 for an image without bitmaps; measuring bitmaps is not implemented, so an image with some is refused. */
  @Override
  public long bitmapBytes(long clusterSize) throws IOException {
    long count = chain.layers().getFirst().facts().bitmaps();
    if (count > 0) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "source has " + count
          + " persistent bitmaps: measuring them is not supported yet (expected: an image without bitmaps)");
    }
    return 0;
  }
}
