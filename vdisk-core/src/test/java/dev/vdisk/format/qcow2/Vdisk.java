package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.Backing;
import dev.vdisk.format.FormatFacts;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Test-side access to images through vdisk's full stack. */
final class Vdisk {
  private Vdisk() {}

  /** Opens {@code path} read-only as qcow2 (format named, not probed). */
  static OpenImage open(Path path) throws IOException {
    return Images.open(path, "qcow2", FileOptions.of(CacheMode.WRITEBACK, true));
  }

  /** The format image under the filters of {@code device}. */
  static FormatImage image(BlockDevice device) {
    return FilterDevice.find(device, FormatImage.class);
  }

  /** The typed facts of the image under {@code device}. */
  static FormatFacts facts(BlockDevice device) throws IOException {
    return image(device).facts();
  }

  /** The backing image of the image under {@code device}. */
  static Optional<Backing> backing(BlockDevice device) {
    return image(device).backing();
  }

  /** True if {@code device} is a stack over a qcow2 image. */
  static boolean isQcow2(BlockDevice device) {
    return image(device).format().name().equals("qcow2");
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
