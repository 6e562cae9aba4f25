package dev.vdisk.io;

import java.util.Locale;

/**
 * How {@link FileDevice} moves data to and from the host file: QEMU's {@code aio=} modes.
 *
 * <ul>
 *   <li>{@link #THREADS}: positional calls through the JDK on the calling thread; the default, as in QEMU (vdisk's
 *       calling threads are its request threads, so there is no separate pool). io_uring is not the default because
 *       it measured slower here (docs/performance.md, 2026-12-03).
 *   <li>{@link #IO_URING}: the kernel's io_uring through FFM ({@link dev.vdisk.io.linux.RingFile}), one ring per open
 *       file shared by all request threads; on an O_DIRECT file, platform threads have rings of their own, and an
 *       asynchronous queue (one thread's many requests in flight) has a ring of its own.
 *   <li>{@link #NATIVE}: QEMU's Linux AIO ({@link dev.vdisk.io.linux.LinuxAio}): a caller that keeps many requests in
 *       flight from one thread (qemu-img bench's depth) submits them together and waits once; single requests go
 *       through positional calls on the calling thread, as under threads. As QEMU, it requires a direct cache mode.
 * </ul>
 *
 * <p>Where io_uring cannot be set up (ENOSYS, EPERM from seccomp or {@code kernel.io_uring_disabled}, a kernel
 * older than 5.6) an explicit {@code io_uring} falls back to threads with one warning line; so does {@code native}
 * where the kernel refuses an AIO context (ENOSYS, EAGAIN beyond {@code fs.aio-max-nr}).
 */
public enum Aio {
  /** {@code aio=threads}, the default. */
  THREADS("threads"),
  /** {@code aio=native}, Linux AIO for asynchronous queues; requires a direct cache mode. */
  NATIVE("native"),
  /** {@code aio=io_uring}. */
  IO_URING("io_uring");

  private final String qemuName;

  Aio(String qemuName) {
    this.qemuName = qemuName;
  }

  /**
   * Parses QEMU's spelling: {@code threads}, {@code native} or {@code io_uring}.
   *
   * @throws IllegalArgumentException naming the value and the accepted spellings
   */
  public static Aio parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    for (Aio a : values()) {
      if (a.qemuName.equals(t)) {
        return a;
      }
    }
    throw new IllegalArgumentException("aio: '" + text + "' (expected: threads, native or io_uring)");
  }

  /** True if this mode submits through io_uring when the kernel allows it. */
  public boolean ring() {
    return this == IO_URING;
  }

  @Override
  public String toString() {
    return qemuName;
  }
}
