package dev.vdisk.cli;

import dev.vdisk.bench.matrix.DeviceGuard;
import dev.vdisk.bench.matrix.HtmlReport;
import dev.vdisk.bench.matrix.Layout;
import dev.vdisk.bench.matrix.MachineFacts;
import dev.vdisk.bench.matrix.MatrixJson;
import dev.vdisk.bench.matrix.MatrixReport;
import dev.vdisk.bench.matrix.MatrixRunner;
import dev.vdisk.bench.matrix.MatrixSettings;
import dev.vdisk.bench.matrix.QemuPeer;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import picocli.CommandLine.Option;

/**
 * {@code vdisk bench --matrix}: the seed post's experiment on the user's own storage ({@link MatrixRunner}), in a
 * temporary folder made under {@code --dir} (default: the current directory) and removed afterwards, also on
 * Ctrl-C (the JVM then exits with 130). Prints the verdicts and the table, or with {@code --output=json} the whole
 * {@link MatrixReport}; {@code --report} writes the HTML report. Progress goes to standard error: a bar on a
 * terminal, one line per step otherwise.
 */
final class BenchMatrix {
  @Option(names = "--matrix", description = "Run the cache-mode and image-layout matrix on this storage, with verdicts.")
  boolean matrix;

  @Option(names = "--dir", paramLabel = "DIR", description = "Matrix: make the images in a temporary folder under DIR "
      + "(default: the current directory), on the filesystem to measure.")
  Path dir;

  @Option(names = "--size", paramLabel = "SIZE", description = "Matrix: size of each image (default 256M, 64M with --quick).")
  String size;

  @Option(names = "--quick", description = "Matrix: 2 short repeats of 0.2 s on 64 MiB images instead of 3 of 0.5 s on 256 MiB.")
  boolean quick;

  @Option(names = "--peer", paramLabel = "qemu", description = "Matrix: run every cell through qemu-img bench too (doubles the time).")
  String peer;

  @Option(names = "--report", paramLabel = "FILE.html", description = "Matrix: write a self-contained HTML report.")
  Path report;

  @Option(names = "--layouts", paramLabel = "LIST", split = ",",
      description = "Matrix: layouts (default all): raw-sparse, raw-falloc, raw-full, qcow2-off, qcow2-metadata, qcow2-falloc, qcow2-full.")
  List<String> layouts;

  @Option(names = "--modes", paramLabel = "LIST", split = ",",
      description = "Matrix: cache modes (default all five): writeback, writethrough, none, directsync, unsafe.")
  List<String> modes;

  @Option(names = "--device", paramLabel = "DEV", description = "Matrix: add a raw block device layout. DESTROYS ITS DATA.")
  Path device;

  @Option(names = "--destroy-data-on", paramLabel = "DEV", description = "Matrix: confirms --device, naming it again.")
  Path destroyDataOn;

  /** Runs the matrix; {@code json} selects the JSON document on standard output. */
  int run(Main main, boolean json) throws IOException {
    Path device = this.device == null ? null : DeviceGuard.check(this.device, destroyDataOn);
    if (this.device == null && destroyDataOn != null) {
      throw new CliException("--destroy-data-on: given without --device (expected: both, naming the same device)");
    }
    QemuPeer qemu = null;
    if (peer != null) {
      if (!peer.equals("qemu")) {
        throw new CliException("--peer: '" + peer + "' (expected: qemu)");
      }
      qemu = QemuPeer.find().orElseThrow(() -> new CliException(
          "--peer qemu: qemu-img is not installed (expected: qemu-img on PATH, from Debian's qemu-utils)"));
    }
    if (report != null && (report.getParent() != null && !Files.isDirectory(report.getParent()))) {
      throw new CliException("--report: " + report + ": no such folder (expected: a file in an existing folder)");
    }
    long imageSize = size == null ? (quick ? 64L << 20 : 256L << 20) : Sizes.parse("--size", size);
    List<Layout> layoutList = layouts == null ? Arrays.asList(Layout.files()) : layouts.stream().map(Layout::parse).toList();
    List<CacheMode> modeList = modes == null ? CacheMode.PRESETS : modes.stream().map(CacheMode::parse).toList();
    Path base = dir == null ? Path.of("") : dir;
    if (!Files.isDirectory(base.toAbsolutePath())) {
      throw new CliException("--dir: " + dir + ": no such folder (expected: an existing folder on the storage to measure)");
    }
    Path work = Files.createTempDirectory(base.toAbsolutePath(), "vdisk-bench-");
    MatrixSettings settings = quick
        ? MatrixSettings.quick(work, imageSize, layoutList, modeList, device)
        : MatrixSettings.defaults(work, imageSize, layoutList, modeList, device);
    PrintWriter err = main.err();
    MatrixProgress progress = MatrixProgress.start(err);
    MatrixRunner runner = new MatrixRunner(settings, qemu, progress);
    CountDownLatch cleaned = new CountDownLatch(1);
    // Ctrl-C: stop the run, let it clean up, and make sure the folder is gone before the JVM exits (with 130).
    Thread hook = new Thread(() -> {
      runner.cancel();
      try {
        cleaned.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      deleteQuietly(work);
    }, "vdisk-bench-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
    MatrixReport result;
    try {
      result = runner.run(MachineFacts.of(work, version(), qemu == null ? null : qemu.version()));
    } catch (InterruptedIOException e) {
      throw new CliException("interrupted; the temporary folder " + work + " is removed");
    } finally {
      progress.close();
      deleteQuietly(work);
      cleaned.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // The JVM is shutting down (Ctrl-C): the hook runs and ends the process.
      }
    }
    if (report != null) {
      HtmlReport.write(result, report);
    }
    PrintWriter out = main.out();
    out.print(json ? MatrixJson.of(result) + "\n" : MatrixText.of(result));
    out.flush();
    return 0;
  }

  /** Removes {@code dir} and everything in it, ignoring what is already gone. */
  private static void deleteQuietly(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (IOException | UncheckedIOException e) {
      // Best effort: a file being removed twice at Ctrl-C is not an error.
    }
  }

  private static String version() {
    return BuildVersion.VERSION;
  }
}
