package dev.vdisk.block;

import java.nio.channels.FileChannel;

/**
 * Bytes of a guest range as they sit, unchanged, in a host file: what {@link BlockDevice#hostRanges} yields so that a
 * transport can send them straight from the host's page cache ({@link FileChannel#transferTo}, sendfile) instead of
 * reading them into a buffer first.
 *
 * @param channel the host file, open for reading; owned by the device (the caller neither closes nor keeps it)
 * @param position where the bytes start in the file
 * @param length how many bytes, at least 1
 */
public record HostRange(FileChannel channel, long position, long length) {}
