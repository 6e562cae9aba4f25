package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Test-side access to images through vdisk's full stack. */
final class Vdisk {
  private Vdisk() {}

  /** Opens {@code path} read-only as qcow2 (format named, not probed). */
  static OpenImage open(Path path) throws IOException {
    return Images.open(path, "qcow2", FileOptions.of(CacheMode.WRITEBACK, true));
  }

  /** {@code length} bytes at {@code offset}. */
  static byte[] read(BlockDevice device, long offset, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    device.read(offset, b);
    return b.array();
  }

  /** The whole virtual disk. */
  static byte[] readAll(BlockDevice device) throws IOException {
    return read(device, 0, Math.toIntExact(device.size()));
  }

  /** Every extent of the device, asking again where a reply stops early. */
  static List<Extent> extents(BlockDevice device) throws IOException {
    List<Extent> all = new ArrayList<>();
    long pos = 0;
    long size = device.size();
    while (pos < size) {
      List<Extent> got = device.extents(pos, size - pos);
      all.addAll(got);
      pos = got.getLast().end();
    }
    return all;
  }
}
