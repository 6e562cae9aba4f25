package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;

/**
 * The exceptions this driver throws, all in vdisk's {@code what: value (expected: constraint)} form. An image
 * is untrusted input, so every rejection names the field, the value found and what would have been valid.
 */
final class Qcow2Errors {
  private Qcow2Errors() {}

  /** A header or table value that no valid image has: the image cannot be opened. */
  static BlockDeviceException invalid(String what, Object value, String expected) {
    return new BlockDeviceException(BlockError.EINVAL, format(what, value, expected));
  }

  /** {@link #invalid(String, Object, String)} caused by {@code cause}. */
  static BlockDeviceException invalid(String what, Object value, String expected, Throwable cause) {
    return new BlockDeviceException(BlockError.EINVAL, format(what, value, expected), cause);
  }

  /** A valid image using something this driver does not implement. */
  static BlockDeviceException unsupported(String what, Object value, String expected) {
    return new BlockDeviceException(BlockError.ENOTSUP, format(what, value, expected));
  }

  /** Metadata found broken while serving a request (QEMU would mark the image corrupt). */
  static BlockDeviceException corrupt(String what, Object value, String expected) {
    return new BlockDeviceException(BlockError.EIO, format(what, value, expected));
  }

  /** {@link #corrupt(String, Object, String)} caused by {@code cause}. */
  static BlockDeviceException corrupt(String what, Object value, String expected, Throwable cause) {
    return new BlockDeviceException(BlockError.EIO, format(what, value, expected), cause);
  }

  static String hex(long value) {
    return "0x" + Long.toHexString(value);
  }

  private static String format(String what, Object value, String expected) {
    return what + ": " + value + " (expected: " + expected + ")";
  }
}
