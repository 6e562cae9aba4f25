package dev.vdisk.ops.internal;

import dev.vdisk.io.FileDevice;

/**
 * Starts the host's writeback of a file every {@link #STEP} bytes a long copy writes into it ({@link
 * FileDevice#startWriteback}), so that the disk writes while the copy runs and the copy's final flush has little
 * left to wait for. QEMU leaves the whole copy in the page cache until its final fdatasync (on a machine with
 * gigabytes of memory the kernel's background writeback does not start before then). A hint only: what is durable
 * still depends on the flush alone, so crash safety is unchanged. Not thread-safe: one copy loop calls it.
 */
final class WritebackAhead {
  /** Bytes written between two starts: large enough to cost one system call per 16 MiB, small enough to overlap. */
  static final long STEP = 16L << 20;

  private final FileDevice file;
  private long pending;

  /** For writes into {@code file}; null (an image not in a host file) makes every call a no-op. */
  WritebackAhead(FileDevice file) {
    this.file = file;
  }

  /** Counts {@code bytes} written (or handed to writers in flight); starts writeback once a step has gathered. */
  void wrote(long bytes) {
    pending += bytes;
    if (pending >= STEP && file != null) {
      pending = 0;
      file.startWriteback();
    }
  }
}
