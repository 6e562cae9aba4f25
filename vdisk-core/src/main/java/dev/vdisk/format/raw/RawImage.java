package dev.vdisk.format.raw;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.FormatFacts;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * A raw image: every verb passes to the file unchanged. When the format was probed rather than named,
 * writes that would make the first sector look like another format are refused, so a guest cannot turn
 * its disk into, say, a qcow2 image pointing at a host file (QEMU's rule for probed raw images).
 */
final class RawImage extends FilterDevice implements FormatImage {
  private static final int SECTOR = 512;
  private final boolean probed;
  private final RawFormat format;

  RawImage(BlockDevice file, boolean probed, RawFormat format) {
    super(file);
    this.probed = probed;
    this.format = format;
  }

  @Override
  public ImageFormat format() {
    return format;
  }

  /** A raw image has no facts beyond its bytes. */
  @Override
  public FormatFacts facts() {
    return FormatFacts.none();
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    if (probed && offset < SECTOR && src.hasRemaining()) {
      checkSectorZero(offset, src);
    }
    next.write(offset, src, flags);
  }

  /**
   * The file's asynchronous queue: unchanged for a named format; for a probed image, writes to the first sector run
   * through {@link #write} and its check (after the requests in flight), every other request passes down.
   */
  @Override
  public RequestQueue queue(int depth) throws IOException {
    RequestQueue below = next.queue(depth);
    if (!probed || below == null) {
      return below;
    }
    return new ForwardingQueue(below) {
      @Override
      public void write(long offset, ByteBuffer src, int tag) throws IOException {
        if (offset < SECTOR && src.hasRemaining()) {
          runNow(tag, () -> RawImage.this.write(offset, src, Set.of()));
        } else {
          super.write(offset, src, tag);
        }
      }
    };
  }

  private void checkSectorZero(long offset, ByteBuffer src) throws IOException {
    ByteBuffer sector = ByteBuffer.allocate((int) Math.min(SECTOR, next.size()));
    next.read(0, sector);
    int n = (int) Math.min(src.remaining(), sector.capacity() - offset);
    sector.put((int) offset, src, src.position(), n);
    if (RawFormat.looksLikeAnotherFormat(sector.clear())) {
      throw new BlockDeviceException(BlockError.EPERM,
          "write: would make the first sector of a probed raw image look like another format (expected: name the format with -f raw to allow this write)");
    }
  }

  /** A raw image's bytes are its file's: the file's ranges, unchanged. */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    return next.hostRanges(offset, length);
  }

  /** The file's copy, except into the first sector of a probed image, whose bytes {@link #write} must check. */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    return (!probed || offset >= SECTOR) && next.writeFrom(offset, src);
  }

  @Override
  public String toString() {
    return "Raw(" + next + ")";
  }
}
