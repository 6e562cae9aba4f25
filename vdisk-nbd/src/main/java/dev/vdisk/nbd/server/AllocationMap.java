package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_STATE_HOLE;
import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_STATE_ZERO;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The allocation of an export as a client sees it through the whole backing chain ({@link ChainWalker}, as
 * {@code qemu-img map} walks it): for each run the {@code base:allocation} status ({@link #flags}:
 * {@code NBD_STATE_HOLE}, {@code NBD_STATE_ZERO}) and the {@code qemu:allocation-depth} ({@link #depth}: 1 = the
 * export's own image, 2 = its backing image, ..., 0 = no image). Past a backing image's end the bytes read as zeroes.
 */
final class AllocationMap {
  /** Runs one answer holds at most, so that a request over a fragmented export costs bounded memory. */
  static final int MAX_RUNS = 4096;

  private AllocationMap() {}

  /**
   * Runs covering {@code [offset, offset + length)} from {@code offset}, adjacent runs merged where both statuses
   * are the same, possibly ending early (after {@link #MAX_RUNS}; callers ask again from where the list ends).
   * {@code length} is positive and the range lies within the device.
   */
  static List<BlockStatus> describe(BlockDevice device, long offset, long length) throws IOException {
    List<BlockStatus> out = new ArrayList<>();
    long end = offset + length;
    ChainWalker walker = ChainWalker.of(device, ChainWalker.Mode.LAYERS, offset, end);
    for (long pos = offset; pos < end && out.size() < MAX_RUNS; ) {
      BlockStatus s = walker.at(pos);
      if (!out.isEmpty() && flags(out.getLast()) == flags(s) && depth(out.getLast()) == depth(s)) {
        out.set(out.size() - 1, out.getLast().grow(s.length(), s.eof()));
      } else {
        out.add(s);
      }
      pos = s.end();
    }
    return out;
  }

  /** The run's {@code base:allocation} flags: a range no layer defines is a hole reading as zeroes. */
  static int flags(BlockStatus s) {
    if (!s.allocated()) {
      return NBD_STATE_HOLE | NBD_STATE_ZERO;
    }
    return (s.data() ? 0 : NBD_STATE_HOLE) | (s.zero() ? NBD_STATE_ZERO : 0);
  }

  /** The run's {@code qemu:allocation-depth}: 1 for the export's own image, 0 where no layer defines the run. */
  static int depth(BlockStatus s) {
    return s.allocated() ? s.depth() + 1 : 0;
  }
}
