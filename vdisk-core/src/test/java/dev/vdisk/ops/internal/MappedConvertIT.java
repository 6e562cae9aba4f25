package dev.vdisk.ops.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.io.CacheMode;
import dev.vdisk.ops.ConvertOptions;
import dev.vdisk.ops.Progress;
import dev.vdisk.testkit.Peers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Convert's mapped source ({@link MappedChunk}) writes what its copy path writes: the same bytes and the same
 * allocation ({@code qemu-img map}) for sources made by qemu-img and qemu-io, where data straddles holes, zero runs sit
 * inside data, in qcow2 data clusters, in a backing file; compressed clusters take the copy path. A raw output is
 * also qemu-img convert's, byte for byte and hole for hole; with {@code -C} ({@link ConvertOptions#offload()}) mapped
 * chunks go into a raw target by the kernel's copy ({@link BlockDevice#writeFrom}) and the output is qemu-img -C's.
 */
class MappedConvertIT {
  private static final int MIB = 1 << 20;

  @TempDir
  Path dir;

  @BeforeAll
  static void peers() {
    Peers.require("qemu-img");
    Peers.require("qemu-io");
  }

  /** Data runs that straddle holes and sector boundaries, zero runs inside data (short and long), a partial tail. */
  private static final String[] WRITES = {
      "write -P 0x11 0 300k", "write -P 0x22 1537k 2051k", "write -P 0 1700k 3k", "write -P 0 2000k 256k",
      "write -P 0x33 4095k 2k", "write -P 0x44 6m 1m", "write -z 6400k 64k", "write -P 0x55 7m 1000k"};

  @ParameterizedTest
  @ValueSource(strings = {"raw", "qcow2"})
  void aSourceInOneHostFileIsMappedAndConvertsAsTheCopyPathDoes(String format) throws Exception {
    Path src = dir.resolve("src." + format);
    run("qemu-img", "create", "-q", "-f", format, src.toString(), "8388608");
    io(format, src, WRITES);
    // Only ranges wholly in the page cache are mapped; qemu's writes into part of a qcow2 cluster leave the rest of it
    // an unwritten extent, which is not in the cache until something reads it.
    run("cat", src.toString());

    Counted counted = convertBothWays(src, format, "raw");
    convertBothWays(src, format, "qcow2");

    assertThat(counted.reads.get()).as("data chunks read with read() rather than mapped").isZero();
    assertThat(counted.copies.get()).as("copies from file to file without -C").isZero();
  }

  /**
   * With {@code -C} a mapped chunk goes into a raw target by the kernel's copy, whole, and the output is qemu-img
   * convert -C's byte for byte and hole for hole (zero runs inside data copied, not left sparse), a backing file's data
   * too (qemu-img -C copies it whole from the backing file); compressed clusters are read and written as without it;
   * a qcow2 target takes no copies.
   */
  @ParameterizedTest
  @ValueSource(strings = {"raw", "qcow2", "compressed", "backed"})
  void offloadedChunksGoByKernelCopyAndConvertAsQemuImgC(String kind) throws Exception {
    Path src;
    String format = kind.equals("raw") ? "raw" : "qcow2";
    if (kind.equals("raw") || kind.equals("qcow2")) {
      src = dir.resolve("src." + format);
      run("qemu-img", "create", "-q", "-f", format, src.toString(), "8388608");
      io(format, src, WRITES);
    } else if (kind.equals("compressed")) {
      Path raw = dir.resolve("plain.raw");
      run("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "8388608");
      io("raw", raw, WRITES);
      src = dir.resolve("src.qcow2");
      run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw.toString(), src.toString());
    } else {
      Path base = dir.resolve("base.qcow2");
      run("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8388608");
      io("qcow2", base, WRITES);
      src = dir.resolve("top.qcow2");
      run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", src.toString());
      io("qcow2", src, "write -P 0x66 0 2m", "write -P 0 2200k 64k", "write -P 0x77 3m 192k", "write -z 6m 128k");
      run("cat", base.toString());
    }
    run("cat", src.toString());
    for (boolean ordered : new boolean[] {true, false}) {
      Path out = dir.resolve("out.raw");
      Files.deleteIfExists(out);
      run("qemu-img", "create", "-q", "-f", "raw", out.toString(), "8388608");
      CountedTarget t;
      try (Image source = open(src, format, true); Image target = open(out, "raw", false)) {
        t = new CountedTarget(target);
        Convert.run(new Named(src.toString(), source), new Named(out.toString(), t),
            ConvertOptions.DEFAULTS.withTargetIsZero(true).withWorkers(3).withInOrder(ordered).withOffload(true),
            Progress.NONE);
        target.flush();
      }
      Path theirs = dir.resolve("out-qemu.raw");
      Files.deleteIfExists(theirs);
      run("qemu-img", "convert", "-C", "-f", format, "-O", "raw", src.toString(), theirs.toString());
      assertThat(Files.mismatch(out, theirs)).as("vdisk's and qemu-img -C's outputs differ at").isEqualTo(-1);
      assertThat(run("qemu-img", "map", "--output=json", "-f", "raw", out.toString()))
          .isEqualTo(run("qemu-img", "map", "--output=json", "-f", "raw", theirs.toString()));
      if (!kind.equals("compressed")) {
        assertThat(t.copies.get()).as("chunks copied from file to file").isPositive();
      }
    }
    Path q = dir.resolve("out.qcow2");
    run("qemu-img", "create", "-q", "-f", "qcow2", q.toString(), "8388608");
    try (Image source = open(src, format, true); Image target = open(q, "qcow2", false)) {
      CountedTarget t = new CountedTarget(target);
      Convert.run(new Named(src.toString(), source), new Named(q.toString(), t),
          ConvertOptions.DEFAULTS.withTargetIsZero(true).withOffload(true), Progress.NONE);
      target.flush();
      assertThat(t.copies.get()).as("a qcow2 target takes no copies").isZero();
    }
    run("qemu-img", "compare", "-q", "-f", format, "-F", "qcow2", src.toString(), q.toString());
  }

  @Test
  void aSourceNotInThePageCacheIsReadNotMapped() throws Exception {
    Path src = uncachedRawSource();

    Counted counted = convertBothWays(src, "raw", "raw");

    assertThat(counted.reads.get()).as("data chunks read rather than mapped").isPositive();
  }

  /** A raw source of {@link #WRITES}, written back and dropped from the page cache. */
  private Path uncachedRawSource() throws Exception {
    Path src = dir.resolve("src.raw");
    run("qemu-img", "create", "-q", "-f", "raw", src.toString(), "8388608");
    io("raw", src, WRITES);
    run("sync", src.toString());
    dropCache(src);
    return src;
  }

  /** Drops the file's clean pages from the page cache. */
  private void dropCache(Path file) throws Exception {
    run("dd", "if=" + file, "iflag=nocache", "count=0", "status=none");
  }

  /**
   * With {@code -C} a source not in the page cache is copied by the kernel too, whole, as qemu-img -C copies it: read,
   * it would be scanned and its zero runs left as holes.
   */
  @Test
  void offloadCopiesASourceNotInThePageCacheWholeAsQemuImgC() throws Exception {
    Path src = uncachedRawSource();
    Path out = dir.resolve("out.raw");
    run("qemu-img", "create", "-q", "-f", "raw", out.toString(), "8388608");
    CountedTarget t;
    try (Image source = open(src, "raw", true); Image target = open(out, "raw", false)) {
      t = new CountedTarget(target);
      Convert.run(new Named(src.toString(), source), new Named(out.toString(), t),
          ConvertOptions.DEFAULTS.withTargetIsZero(true).withOffload(true), Progress.NONE);
      target.flush();
    }
    Path theirs = dir.resolve("out-qemu.raw");
    // Dropped again: the zero write's unwritten extent reads as data to SEEK_DATA while its pages are cached.
    dropCache(src);
    run("qemu-img", "convert", "-C", "-f", "raw", "-O", "raw", src.toString(), theirs.toString());
    assertThat(Files.mismatch(out, theirs)).as("vdisk's and qemu-img -C's outputs differ at").isEqualTo(-1);
    assertThat(run("qemu-img", "map", "--output=json", "-f", "raw", out.toString()))
        .isEqualTo(run("qemu-img", "map", "--output=json", "-f", "raw", theirs.toString()));
    assertThat(t.copies.get()).as("chunks copied from file to file").isPositive();
  }

  @Test
  void compressedClustersAreReadNotMappedAndConvertAsTheCopyPathDoes() throws Exception {
    Path raw = dir.resolve("plain.raw");
    run("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "8388608");
    io("raw", raw, WRITES);
    Path src = dir.resolve("src.qcow2");
    run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw.toString(), src.toString());

    Counted counted = convertBothWays(src, "qcow2", "raw");
    convertBothWays(src, "qcow2", "qcow2");

    assertThat(counted.reads.get()).as("compressed chunks must be read").isPositive();
  }

  /** A data run of a backing file is mapped from that file, as the top layer's own clusters are from the top's. */
  @Test
  void rangesOfABackingFileAreMappedFromItsFileAsTheTopLayersOwnAre() throws Exception {
    Path base = dir.resolve("base.qcow2");
    run("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8388608");
    io("qcow2", base, WRITES);
    Path top = dir.resolve("top.qcow2");
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", top.toString());
    io("qcow2", top, "write -P 0x66 0 2m", "write -P 0x77 3m 192k", "write -z 6m 128k");
    run("cat", base.toString(), top.toString());

    Counted counted = convertBothWays(top, "qcow2", "raw");
    convertBothWays(top, "qcow2", "qcow2");

    assertThat(counted.reads.get()).as("data chunks read rather than mapped, the backing file's among them").isZero();
    assertThat(counted.mapped.get()).as("chunks of the top layer's own clusters").isPositive();
  }

  @Test
  void aSourceTruncatedUnderItsMappingFailsWithAnIOException() throws Exception {
    Path src = dir.resolve("src.raw");
    run("qemu-img", "create", "-q", "-f", "raw", src.toString(), "4194304");
    io("raw", src, "write -P 0x11 0 4m");
    Path out = dir.resolve("out.raw");
    run("qemu-img", "create", "-q", "-f", "raw", out.toString(), "4194304");
    ConvertOptions options = new ConvertOptions(2, true, 4096, true, 64 << 10);
    try (Image source = open(src, "raw", true); Image target = open(out, "raw", false)) {
      // The first chunk's write waits for the second worker to map its chunk, then cuts the source
      // short behind it.
      BlockDevice truncating = new FilterDevice(target) {
        @Override
        public void write(long offset, ByteBuffer data, Set<WriteFlag> flags) throws IOException {
          if (offset == 0) {
            cutShortLater(src); // the first chunk stays whole: its own write reads its mapping
          }
          super.write(offset, data, flags);
        }
      };
      assertThatThrownBy(() -> Convert.run(new Named(src.toString(), source), new Named(out.toString(), truncating),
          options, Progress.NONE))
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith("error while reading '" + src + "' at byte ");
    }
  }

  @Test
  void aSourceTruncatedUnderAnOffloadedCopyFailsWithAnIOExceptionNamingTheSource() throws Exception {
    Path src = dir.resolve("src.raw");
    run("qemu-img", "create", "-q", "-f", "raw", src.toString(), "4194304");
    io("raw", src, "write -P 0x11 0 4m");
    run("cat", src.toString());
    Path out = dir.resolve("out.raw");
    run("qemu-img", "create", "-q", "-f", "raw", out.toString(), "4194304");
    ConvertOptions options = new ConvertOptions(2, true, 4096, true, 64 << 10).withOffload(true);
    AtomicInteger copies = new AtomicInteger();
    try (Image source = open(src, "raw", true); Image target = open(out, "raw", false)) {
      // The first chunk's copy cuts the source short behind itself, after the second worker has mapped and scanned
      // its chunk: that chunk's copy finds the source's bytes gone.
      BlockDevice truncating = new FilterDevice(target) {
        @Override
        public boolean writeFrom(long offset, HostRange from) throws IOException {
          copies.incrementAndGet();
          if (offset == 0) {
            cutShortLater(src);
          }
          return next.writeFrom(offset, from);
        }
      };
      assertThatThrownBy(() -> Convert.run(new Named(src.toString(), source), new Named(out.toString(), truncating),
          options, Progress.NONE))
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith("error while reading '" + src + "' at byte ");
    }
    assertThat(copies.get()).as("chunks copied from file to file").isGreaterThan(1);
  }

  /** After 300 ms (the second worker has mapped its chunk by then), cuts {@code src} to its first 64 KiB chunk. */
  private static void cutShortLater(Path src) throws IOException {
    try {
      TimeUnit.MILLISECONDS.sleep(300);
    } catch (InterruptedException e) {
      throw new IOException(e);
    }
    try (RandomAccessFile f = new RandomAccessFile(src.toFile(), "rw")) {
      f.setLength(64 << 10);
    }
  }

  /** A target passing {@link BlockDevice#writeFrom} on, counting the copies. */
  private static final class CountedTarget extends FilterDevice {
    final AtomicInteger copies = new AtomicInteger();

    CountedTarget(BlockDevice next) {
      super(next);
    }

    @Override
    public boolean writeFrom(long offset, HostRange src) throws IOException {
      boolean done = next.writeFrom(offset, src);
      if (done) {
        copies.incrementAndGet();
      }
      return done;
    }

    @Override
    public void close() {
      // The test closes the image.
    }
  }

  /** The source, read-only, counting the data reads and mapped ranges the convert asked for, and the target's copies. */
  private static final class Counted extends FilterDevice {
    final AtomicInteger reads = new AtomicInteger();
    final AtomicInteger mapped = new AtomicInteger();
    final AtomicInteger copies = new AtomicInteger();

    Counted(BlockDevice next) {
      super(next);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      reads.incrementAndGet();
      super.read(offset, dst);
    }

    @Override
    public List<HostRange> hostRanges(long offset, long length) throws IOException {
      List<HostRange> r = next.hostRanges(offset, length);
      if (!r.isEmpty()) {
        mapped.incrementAndGet();
      }
      return r;
    }

    @Override
    public void close() {
      // The test closes the image.
    }
  }

  /**
   * Converts {@code src} to {@code outFormat} through the mapped path and the copy path; asserts the outputs equal
   * byte for byte and in {@code qemu-img map}. Returns the mapped run's counts.
   */
  private Counted convertBothWays(Path src, String format, String outFormat) throws Exception {
    List<Path> outs = new ArrayList<>();
    Counted counted = null;
    for (boolean mapped : new boolean[] {true, false}) {
      Path out = dir.resolve("out-" + mapped + "." + outFormat);
      Files.deleteIfExists(out);
      run("qemu-img", "create", "-q", "-f", outFormat, out.toString(), "8388608");
      try (Image source = open(src, format, true); Image target = open(out, outFormat, false)) {
        Counted c = new Counted(source);
        CountedTarget t = new CountedTarget(target);
        Named from = new Named(src.toString(), c);
        Named to = new Named(out.toString(), t);
        ConvertOptions options = ConvertOptions.DEFAULTS.withTargetIsZero(true).withWorkers(3);
        if (mapped) {
          Convert.run(from, to, options.withInOrder(true), Progress.NONE);
          counted = c;
          c.copies.set(t.copies.get());
        } else {
          Convert.runByReads(from, to, options, Progress.NONE);
        }
        target.flush();
      }
      outs.add(out);
    }
    assertThat(Files.mismatch(outs.get(0), outs.get(1))).as("mapped and copied outputs differ at").isEqualTo(-1);
    assertThat(run("qemu-img", "map", "--output=json", "-f", outFormat, outs.get(0).toString()))
        .isEqualTo(run("qemu-img", "map", "--output=json", "-f", outFormat, outs.get(1).toString()));
    if (outFormat.equals("raw")) {
      // And as qemu-img's own convert writes it: the same bytes, the same holes.
      Path theirs = dir.resolve("out-qemu.raw");
      Files.deleteIfExists(theirs);
      run("qemu-img", "convert", "-f", format, "-O", "raw", src.toString(), theirs.toString());
      assertThat(Files.mismatch(outs.get(0), theirs)).as("vdisk's and qemu-img's outputs differ at").isEqualTo(-1);
      assertThat(run("qemu-img", "map", "--output=json", "-f", "raw", outs.get(0).toString()))
          .isEqualTo(run("qemu-img", "map", "--output=json", "-f", "raw", theirs.toString()));
    }
    return counted;
  }

  private static Image open(Path path, String format, boolean readOnly) throws IOException {
    return Vdisk.open(path, OpenOptions.builder().format(format).cache(CacheMode.WRITEBACK).readOnly(readOnly).build());
  }

  private void io(String format, Path image, String... commands) throws Exception {
    List<String> args = new ArrayList<>(List.of("qemu-io", "-f", format));
    for (String c : commands) {
      args.add("-c");
      args.add(c);
    }
    args.add(image.toString());
    run(args.toArray(String[]::new));
  }

  private String run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", command) + ": " + out).isZero();
    return out;
  }
}
