package dev.vdisk.cli;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A target image that lives on something of fixed size rather than in a file vdisk creates: an NBD export, or a host
 * block device (qemu-img's {@code host_device} driver). Such a target is never truncated or replaced: the format is
 * written onto it ({@link dev.vdisk.format.ImageFormat#createOn}), its size is the device's, and discards and zeroes
 * go to the device (NBD trim and write-zeroes; the block device's {@code fallocate} punch-hole and zero-range, which
 * Linux maps to its discard and zero-out).
 */
final class DeviceTarget {
  private DeviceTarget() {}

  /** True if {@code spec} names an NBD export or an existing host device (anything but a regular file or folder). */
  static boolean isDevice(ImageSpec spec) throws IOException {
    if (spec.isNbd()) {
      return true;
    }
    Path p = Path.of(spec.file());
    if (!Files.exists(p)) {
      return false;
    }
    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
    return a.isOther();
  }

  /**
   * Opens the device {@code spec} names for writing, with {@code cache}'s host-cache switch for a block device;
   * the caller owns it.
   */
  static BlockDevice open(ImageSpec spec, ImageOptions options, CacheMode cache) throws IOException {
    if (spec.isNbd()) {
      return options.openNbd(spec, false);
    }
    return FileDevice.open(Path.of(spec.file()), FileOptions.of(cache, false));
  }

  /** True if the host files {@code a} and {@code b} (either may be null: no host file) are one file. */
  static boolean isSameFile(String a, String b) throws IOException {
    if (a == null || b == null) {
      return false;
    }
    Path pa = Path.of(a);
    Path pb = Path.of(b);
    return Files.exists(pa) && Files.exists(pb) && Files.isSameFile(pa, pb);
  }
}
