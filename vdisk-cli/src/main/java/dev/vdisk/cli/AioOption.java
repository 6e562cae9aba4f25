package dev.vdisk.cli;

import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import picocli.CommandLine.Option;

/** qemu-img bench's {@code -i} and qemu-io's {@code -i/--aio}: how data reaches the host file. */
final class AioOption {
  /** What every aio option's help says. */
  static final String HELP = "AIO mode: threads, native or io_uring (default: threads, as in QEMU). native is Linux AIO: bench keeps its depth in flight from one thread and waits once "
      + "for many completions; other requests are positional calls as under threads; as in QEMU it needs a direct cache mode. Where the kernel refuses io_uring or Linux AIO, the mode falls back "
      + "to threads with one warning.";

  /** bench's {@code -i}: its default differs (see {@link #benchDefault}). */
  static final String BENCH_HELP = "AIO mode: threads, native or io_uring (default: io_uring for -f raw under cache none "
      + "and directsync, threads otherwise, as in QEMU). io_uring and native keep bench's depth in flight from one thread, "
      + "which waits once for many completions; native is Linux AIO and, as in QEMU, needs a direct cache mode. Where "
      + "the kernel refuses io_uring or Linux AIO, the mode falls back to threads with one warning.";

  @Option(names = {"-i", "--aio"}, paramLabel = "AIO", description = HELP)
  String aio;

  /** The mode asked for (threads by default); checked against {@code cache} as QEMU checks it. */
  Aio mode(CacheMode cache) {
    return parse("-i", aio, cache);
  }

  /**
   * bench's {@code -i}: {@code value} as {@link #parse} reads it, but by default io_uring for a raw image ({@code -f
   * raw}) under a direct cache mode ({@code none}, {@code directsync}), where bench then keeps its whole depth in
   * flight from one thread on the file's queue. Counted on the project's host (virtio disk, Linux 6.18): 4 KiB reads and
   * writes at depth 16 took 0.01-0.4 context switches per request instead of about one (a thread woken per
   * completion), with the device kept as deep; depth 1 and 1 MiB at depth 4 were even. A qcow2 image keeps threads: its
   * queue runs a write across clusters synchronously, so 1 MiB writes reached the device one at a time. The page cache
   * modes keep threads too.
   */
  static Aio benchDefault(String value, CacheMode cache, String format) {
    return value == null && cache.direct() && "raw".equals(format) ? Aio.IO_URING : parse("-i", value, cache);
  }

  /**
   * {@code value} (null: the default) as an aio mode for files opened with {@code cache}.
   *
   * @throws CliException for an unknown spelling, or {@code native} without a direct cache mode (QEMU's message)
   */
  static Aio parse(String option, String value, CacheMode cache) {
    if (value == null) {
      return Aio.THREADS;
    }
    Aio mode;
    try {
      mode = Aio.parse(value);
    } catch (IllegalArgumentException e) {
      throw new CliException(option + ": '" + value + "' (expected: threads, native or io_uring)");
    }
    if (mode == Aio.NATIVE && !cache.direct()) {
      throw new CliException("aio=native was specified, but it requires cache.direct=on, which was not specified.");
    }
    return mode;
  }
}
