package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;

/**
 * A device with the name its user knows it by (a file name), for error messages.
 *
 * @param name what messages call it
 * @param device the open device; the operation neither closes it nor keeps it
 */
public record Named(String name, BlockDevice device) {}
