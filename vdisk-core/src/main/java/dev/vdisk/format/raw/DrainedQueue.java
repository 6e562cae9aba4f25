package dev.vdisk.format.raw;

import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.internal.CountingQueue;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * A raw image's queue over its file's: reads pass unchanged; a write is counted in the image's {@link ShrinkDrain}
 * from before its range is checked against the size until its completion was reaped, so a shrink cuts the file only
 * once no write of the old size is queued or in the kernel. A write that meets a shrink draining runs through the
 * image's own {@code write} after the requests in flight here completed and were counted out (that call waits for
 * the shrink's end, then checks the range against the new size); so does a probed image's write to its first
 * sector, for that call's check.
 */
final class DrainedQueue extends CountingQueue {
  private final RawImage image;
  private final ShrinkDrain drain;

  DrainedQueue(RequestQueue below, RawImage image, ShrinkDrain drain) {
    super(below);
    this.image = image;
    this.drain = drain;
  }

  @Override
  public void write(long offset, ByteBuffer src, int tag) throws IOException {
    if (image.checksSector(offset, src) || !drain.tryEnter()) {
      runNow(tag, () -> {
        settle(); // what runNow reaped is no longer in flight: the shrink must not wait for it
        image.write(offset, src, Set.of());
      });
      return;
    }
    counted();
    try {
      image.inside("write", offset, src.remaining());
    } catch (IOException e) {
      uncount();
      refuse(tag, e);
      return;
    }
    try {
      super.write(offset, src, tag);
    } catch (IOException | RuntimeException e) {
      settle(); // the queue below failed to take it; what it holds stays counted
      throw e;
    }
  }

  @Override
  protected void release(int n) {
    drain.exit(n);
  }
}
