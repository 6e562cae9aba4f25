package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_STATE_HOLE;
import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_STATE_ZERO;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.format.ImageChain;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The allocation of an export as a client sees it through the whole backing chain: for each range the
 * {@code base:allocation} status ({@code NBD_STATE_HOLE}, {@code NBD_STATE_ZERO}) and the
 * {@code qemu:allocation-depth} (1 = the export's own image, 2 = its backing image, ..., 0 = no image).
 *
 * <p>A range the top image leaves undefined ({@link Extent#present()} false) is looked up in the backing
 * image, as QEMU does ({@link ImageChain}); past the backing image's end it reads as zeroes.
 */
final class AllocationMap {
  /** A range and its two statuses. */
  record Run(long offset, long length, int status, int depth) {
    long end() {
      return offset + length;
    }
  }

  private AllocationMap() {}

  /**
   * Runs covering {@code [offset, offset + length)} from {@code offset}, possibly ending early (callers ask
   * again from where the list ends). {@code length} is positive and the range lies within the device. A range
   * the top image leaves undefined is described by the backing image that defines it ({@link ImageChain}); depth
   * counts from 1 at the top, and 0 where no layer defines the range.
   */
  static List<Run> describe(BlockDevice device, long offset, long length) throws IOException {
    List<Run> out = new ArrayList<>();
    for (ImageChain.Status s : ImageChain.of(device).status(offset, length)) {
      Extent e = s.extent();
      add(out, e.present()
          ? new Run(e.offset(), e.length(), (e.data() ? 0 : NBD_STATE_HOLE) | (e.zero() ? NBD_STATE_ZERO : 0), s.depth() + 1)
          : new Run(e.offset(), e.length(), NBD_STATE_HOLE | NBD_STATE_ZERO, 0));
    }
    return out;
  }

  private static void add(List<Run> out, Run r) {
    if (!out.isEmpty()) {
      Run last = out.getLast();
      if (last.end() == r.offset() && last.status() == r.status() && last.depth() == r.depth()) {
        out.set(out.size() - 1, new Run(last.offset(), last.length() + r.length(), r.status(), r.depth()));
        return;
      }
    }
    out.add(r);
  }

}
