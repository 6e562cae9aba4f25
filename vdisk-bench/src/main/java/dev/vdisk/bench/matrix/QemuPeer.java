package dev.vdisk.bench.matrix;

import dev.vdisk.bench.BenchSpec;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code qemu-img bench} as the peer of the matrix: the same request streams ({@link BenchSpec}, qemu-img bench's
 * fixed stride) run through QEMU's block layer with its best aio mode for each cache mode.
 *
 * <p>"Best" is QEMU's fastest mode that this QEMU and kernel accept for the cache mode, probed once per mode on a
 * small file: io_uring, then native (which QEMU allows only with O_DIRECT, cache=none and directsync), then threads.
 */
public final class QemuPeer {
  private static final List<String> AIO_PREFERENCE = List.of("io_uring", "native", "threads");
  private static final Pattern COMPLETED = Pattern.compile("Run completed in ([0-9.]+) seconds\\.");

  private final String qemuImg;
  private final String version;
  private final Map<String, String> aio = new HashMap<>();

  private QemuPeer(String qemuImg, String version) {
    this.qemuImg = qemuImg;
    this.version = version;
  }

  /** The qemu-img on PATH, if it runs. */
  public static Optional<QemuPeer> find() {
    try {
      Result r = exec(List.of("qemu-img", "--version"), () -> false);
      if (r.exit == 0) {
        return Optional.of(new QemuPeer("qemu-img", r.out.lines().findFirst().orElse("qemu-img")));
      }
    } catch (IOException e) {
      // Not installed: no peer.
    }
    return Optional.empty();
  }

  /** The first line of {@code qemu-img --version}. */
  public String version() {
    return version;
  }

  /**
   * QEMU's best aio mode for {@code mode}, probed with a one-request bench on {@code probe} (a raw file of at least
   * 4 KiB) the first time each mode is asked for.
   */
  public String bestAio(CacheMode mode, Path probe, BooleanSupplier stop) throws IOException {
    String known = aio.get(mode.name());
    if (known != null) {
      return known;
    }
    for (String a : AIO_PREFERENCE) {
      Result r = exec(List.of(qemuImg, "bench", "-c", "1", "-d", "1", "-f", "raw", "-t", mode.name(), "-i", a,
          probe.toString()), stop);
      if (r.exit == 0) {
        aio.put(mode.name(), a);
        return a;
      }
    }
    throw new IOException("qemu-img bench accepts none of " + AIO_PREFERENCE + " with cache=" + mode.name()
        + " on " + probe.getParent() + " (expected: at least aio=threads to work)");
  }

  /**
   * Runs {@code spec} (offset 0, no flushes) through qemu-img bench on {@code image} and returns the seconds it
   * reports.
   */
  public double run(Path image, String format, CacheMode mode, String aioMode, BenchSpec spec, BooleanSupplier stop)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(qemuImg, "bench", "-f", format, "-t", mode.name(), "-i", aioMode,
        "-d", Integer.toString(spec.depth()), "-c", Integer.toString(spec.count()), "-s",
        Integer.toString(spec.bufferSize()), "-S", Long.toString(spec.step())));
    if (spec.write()) {
      cmd.add("-w");
    }
    cmd.add(image.toString());
    Result r = exec(cmd, stop);
    Matcher m = COMPLETED.matcher(r.out);
    if (r.exit != 0 || !m.find()) {
      throw new IOException("qemu-img bench failed (exit " + r.exit + "): " + (r.out + r.err).strip()
          + " (expected: 'Run completed in N seconds.')");
    }
    return Double.parseDouble(m.group(1));
  }

  private record Result(int exit, String out, String err) {}

  /** Runs {@code cmd}, ending it when {@code stop} turns true. */
  private static Result exec(List<String> cmd, BooleanSupplier stop) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
    try {
      p.getOutputStream().close();
      while (!p.waitFor(50, TimeUnit.MILLISECONDS)) {
        if (stop.getAsBoolean()) {
          p.destroy();
          p.waitFor();
          throw new InterruptedIOException("bench: stopped");
        }
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      return new Result(p.exitValue(), out, err);
    } catch (InterruptedException e) {
      p.destroy();
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("bench: interrupted");
    }
  }
}
