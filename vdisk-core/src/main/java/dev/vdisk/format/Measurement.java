package dev.vdisk.format;

import java.util.OptionalLong;

/**
 * What {@code qemu-img measure} reports for a new image.
 *
 * @param required bytes the new image file needs for the data given (or, from a size alone, for an empty image)
 * @param fullyAllocated bytes the file needs with every cluster allocated
 * @param bitmaps bytes for the source's persistent bitmaps, present exactly where qemu-img prints them (a qcow2
 *     source measured for a version 3 qcow2 target)
 */
public record Measurement(long required, long fullyAllocated, OptionalLong bitmaps) {}
