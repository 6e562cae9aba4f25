package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_STATE_HOLE;
import static dev.vdisk.nbd.protocol.NbdProtocol.NBD_STATE_ZERO;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.format.qcow2.Qcow2Format;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The allocation of an export as a client sees it through the whole backing chain: for each range the
 * {@code base:allocation} status ({@code NBD_STATE_HOLE}, {@code NBD_STATE_ZERO}) and the
 * {@code qemu:allocation-depth} (1 = the export's own image, 2 = its backing image, ..., 0 = no image).
 *
 * <p>A range the top image leaves undefined ({@link Extent#present()} false) is looked up in the backing
 * image, as QEMU does; past the backing image's end it reads as zeroes. Backing images are found through
 * {@link Qcow2Format#backing}: qcow2 is the only format with backing files today.
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
   * again from where the list ends). {@code length} is positive and the range lies within the device.
   */
  static List<Run> describe(BlockDevice device, long offset, long length) throws IOException {
    List<Run> out = new ArrayList<>();
    describe(device, offset, length, 1, out);
    return out;
  }

  private static void describe(BlockDevice device, long offset, long length, int depth, List<Run> out) throws IOException {
    for (Extent e : device.extents(offset, length)) {
      if (e.present()) {
        add(out, new Run(e.offset(), e.length(), (e.data() ? 0 : NBD_STATE_HOLE) | (e.zero() ? NBD_STATE_ZERO : 0), depth));
        continue;
      }
      BlockDevice backing = backingOf(device);
      long inBacking = backing == null ? 0 : Math.max(0, Math.min(e.end(), backing.size()) - e.offset());
      long covered = e.offset();
      if (inBacking > 0) {
        int before = out.size();
        describe(backing, e.offset(), inBacking, depth + 1, out);
        covered = out.size() > before ? out.getLast().end() : e.offset();
        if (covered < e.offset() + inBacking) {
          return; // the backing image stopped early: so do we, the caller asks again
        }
      }
      if (covered < e.end()) {
        add(out, new Run(covered, e.end() - covered, NBD_STATE_HOLE | NBD_STATE_ZERO, 0));
      }
    }
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

  private static BlockDevice backingOf(BlockDevice device) {
    return Qcow2Format.isQcow2(device) ? Qcow2Format.backing(device).map(Qcow2Format.Backing::device).orElse(null) : null;
  }
}
