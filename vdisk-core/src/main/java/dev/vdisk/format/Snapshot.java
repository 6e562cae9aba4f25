package dev.vdisk.format;

/**
 * One internal snapshot, as {@code qemu-img info} and {@code qemu-img snapshot -l} list it.
 *
 * @param id the unique ID string
 * @param name the name (tag)
 * @param virtualSize the disk size when the snapshot was taken
 * @param vmStateSize bytes of saved VM state, 0 for a disk-only snapshot
 * @param dateSeconds when it was taken, seconds since the epoch
 * @param dateNanos the sub-second part of that time
 * @param vmClockNanos how long the guest had run, in nanoseconds
 * @param icount the record/replay instruction count, or -1 where the image records none
 */
public record Snapshot(String id, String name, long virtualSize, long vmStateSize, long dateSeconds, long dateNanos,
    long vmClockNanos, long icount) {}
