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

  @Option(names = {"-i", "--aio"}, paramLabel = "AIO", description = HELP)
  String aio;

  /** The mode asked for (threads by default); checked against {@code cache} as QEMU checks it. */
  Aio mode(CacheMode cache) {
    return parse("-i", aio, cache);
  }

  /**
   * {@code serve}'s aio mode: {@link #parse}, except that an export bypassing the page cache ({@code cache=none},
   * {@code directsync}) defaults to io_uring, whose queue keeps the client's requests in flight in the kernel from one
   * thread per connection instead of a worker thread each (4 KiB at depth 16: about half the server CPU and a third
   * of the context switches per request); single requests still take positional calls, on a ring of the thread's own.
   */
  static Aio parseServe(String option, String value, CacheMode cache) {
    return value == null && cache.direct() ? Aio.IO_URING : parse(option, value, cache);
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
