package dev.vdisk.format;

/**
 * A persistent dirty bitmap as an image's bitmap directory describes it (qemu-img info's {@code bitmaps}).
 *
 * @param name the bitmap's name, unique in the image
 * @param granularity bytes of the guest one bit covers, a power of two
 * @param inUse the bitmap may be stale (inconsistent): it was in use when the image was last closed uncleanly
 * @param auto the bitmap tracks writes (enabled)
 */
public record Bitmap(String name, long granularity, boolean inUse, boolean auto) {}
