package dev.vdisk.io.linux;

/**
 * The fields of fstat(2) that vdisk needs.
 *
 * @param mode st_mode: file type and permission bits
 * @param size st_size in bytes (0 for block devices)
 * @param blocks st_blocks: allocated 512-byte units
 */
public record FileStat(int mode, long size, long blocks) {
  private static final int S_IFMT = 0170000;
  private static final int S_IFREG = 0100000;
  private static final int S_IFBLK = 0060000;

  public boolean isRegularFile() {
    return (mode & S_IFMT) == S_IFREG;
  }

  public boolean isBlockDevice() {
    return (mode & S_IFMT) == S_IFBLK;
  }

  /** Bytes of storage allocated: st_blocks * 512, what {@code du} and qemu-img's "disk size" report. */
  public long allocatedBytes() {
    return blocks * 512;
  }
}
