package dev.vdisk.block;

/** Why a request failed, in the errno vocabulary that NBD and QEMU clients understand. */
public enum BlockError {
  /** The device or export is read-only. */
  EPERM,
  /** The storage failed. */
  EIO,
  /** Memory or a buffer bound was exceeded. */
  ENOMEM,
  /** Bad offset, length, alignment or flags. */
  EINVAL,
  /** No space left, or a write beyond the end of the device. */
  ENOSPC,
  /** Length overflows. */
  EOVERFLOW,
  /** The layer cannot do this (also: FAST_ZERO refused). */
  ENOTSUP,
  /** The device is closed or shutting down. */
  ESHUTDOWN
}
