package dev.vdisk.ops.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.ops.ConvertOptions;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ConvertTest {
  private static final int PAGE = 4096;

  /** A source: its size and the writes that made it (fill value 0 makes allocated pages of zeroes). */
  record Layout(int size, List<Fill> fills) {
    MemoryDevice build() throws IOException {
      MemoryDevice d = new MemoryDevice(size);
      for (Fill f : fills) {
        int len = Math.min(f.length, size - f.offset);
        if (len > 0) {
          byte[] b = new byte[len];
          Arrays.fill(b, f.value);
          d.write(f.offset, ByteBuffer.wrap(b), Set.of());
        }
      }
      return d;
    }
  }

  record Fill(int offset, int length, byte value) {}

  @Provide
  Arbitrary<Layout> layouts() {
    return Arbitraries.integers().between(1, 600_000).flatMap(size -> {
      Arbitrary<Fill> fill = Combinators.combine(
          Arbitraries.integers().between(0, size - 1),
          Arbitraries.integers().between(1, 70_000),
          Arbitraries.of((byte) 0, (byte) 0, (byte) 1, (byte) 0x7f, (byte) 0xff)).as(Fill::new);
      return fill.list().ofMaxSize(12).map(fills -> new Layout(size, fills));
    });
  }

  @Provide
  Arbitrary<Integer> sparse() {
    return Arbitraries.of(0, 512, 4096, 8192, 65536);
  }

  @Property(tries = 300)
  void theTargetReadsLikeTheSourceAndZeroRangesAreNeverReadOrWritten(
      @ForAll("layouts") Layout layout,
      @ForAll @IntRange(min = 1, max = 16) int workers,
      @ForAll boolean inOrder,
      @ForAll("sparse") int sparse,
      @ForAll @IntRange(min = 1, max = 40) int bufferSectors,
      @ForAll boolean freshTarget,
      @ForAll @IntRange(min = 0, max = 5000) int targetExtra) throws IOException {
    MemoryDevice src = layout.build();
    MemoryDevice dst = new MemoryDevice(layout.size() + targetExtra);
    if (!freshTarget) {
      byte[] junk = new byte[layout.size() + targetExtra];
      Arrays.fill(junk, (byte) 0x5a);
      dst.write(0, ByteBuffer.wrap(junk), Set.of());
    }
    RecordingDevice source = new RecordingDevice(src);
    RecordingDevice target = new RecordingDevice(dst);
    ConvertOptions options = new ConvertOptions(workers, inOrder, sparse, freshTarget, bufferSectors * 512);
    List<Long> progress = new ArrayList<>();
    Convert.run(new Named("src", source), new Named("dst", target), options, (done, total) -> {
      synchronized (progress) {
        assertThat(done).isBetween(0L, total);
        progress.add(done);
      }
    });

    assertThat(contents(dst, 0, layout.size())).isEqualTo(contents(src, 0, layout.size()));
    if (targetExtra > 0) {
      byte[] beyond = contents(dst, layout.size(), targetExtra);
      byte[] expected = new byte[targetExtra];
      Arrays.fill(expected, freshTarget ? 0 : (byte) 0x5a);
      assertThat(beyond).as("bytes past the source's end are left alone").isEqualTo(expected);
    }
    assertThat(progress).isSorted();
    for (Extent z : zeroExtents(src)) {
      assertThat(source.reads).as("reads of zero range %s", z).noneMatch(r -> r.overlaps(z.offset(), z.end()));
      if (freshTarget && sparse > 0) {
        assertThat(target.writes).as("writes into zero range %s", z).noneMatch(r -> r.overlaps(z.offset(), z.end()));
        assertThat(target.zeroes).isEmpty();
      }
    }
    if (sparse == 0) {
      assertThat(dst.extents(0, layout.size())).as("-S 0 allocates everything").allMatch(Extent::data);
    }
    if (inOrder) {
      List<RecordingDevice.Range> writes = target.writes;
      for (int i = 1; i < writes.size(); i++) {
        assertThat(writes.get(i).offset()).as("write %d in order", i).isGreaterThanOrEqualTo(writes.get(i - 1).end());
      }
    }
  }

  @Test
  void shortZeroRunsInsideDataAreWrittenAsDataAndLongOnesAreSkipped() throws IOException {
    MemoryDevice src = new MemoryDevice(64 * 1024);
    // data [0, 8k), zeroes [8k, 12k) (one 4k run: shorter than -S 8k), data [12k, 16k), zero data page run [16k, 48k)
    src.write(0, filled(8192, 1), Set.of());
    src.write(8192, ByteBuffer.allocate(4096), Set.of());
    src.write(12288, filled(4096, 2), Set.of());
    src.write(16384, ByteBuffer.allocate(32768), Set.of());
    RecordingDevice target = new RecordingDevice(new MemoryDevice(64 * 1024));
    Convert.run(new Named("s", src), new Named("t", target), ConvertOptions.DEFAULTS.withSparseBytes(8192).withTargetIsZero(true),
        Progress.NONE);
    assertThat(target.writes).containsExactly(new RecordingDevice.Range(0, 16384));
  }

  /** Each layer is asked for its extents once per batch, not once per run: O(n) for n extents. */
  @Test
  void aFragmentedSourceIsWalkedWithAFewExtentQueries() throws IOException {
    int pages = 4000;
    MemoryDevice src = new MemoryDevice((long) pages * PAGE);
    for (int p = 0; p < pages; p += 2) {
      src.write((long) p * PAGE, filled(PAGE, 1 + p % 200), Set.of());
    }
    CountingFilter counted = new CountingFilter(src);
    MemoryDevice dst = new MemoryDevice(src.size());
    Convert.run(new Named("s", counted), new Named("t", dst), ConvertOptions.DEFAULTS.withTargetIsZero(true), Progress.NONE);
    assertThat(counted.extentQueries()).isEqualTo(1); // the copy's walk only: no progress total without a listener
    assertThat(contents(dst, 0, pages * PAGE)).isEqualTo(contents(src, 0, pages * PAGE));
  }

  /** The walk that sizes the progress total runs only for a listener: it doubles the extent queries of the copy. */
  @Test
  void theProgressTotalIsWalkedOnlyForAListener() throws IOException {
    int pages = 4000;
    MemoryDevice src = new MemoryDevice((long) pages * PAGE);
    for (int p = 0; p < pages; p += 2) {
      src.write((long) p * PAGE, filled(PAGE, 1 + p % 200), Set.of());
    }
    CountingFilter quiet = new CountingFilter(src);
    Convert.run(new Named("s", quiet), new Named("t", new MemoryDevice(src.size())),
        ConvertOptions.DEFAULTS.withTargetIsZero(true), Progress.NONE);
    CountingFilter listened = new CountingFilter(src);
    List<Long> totals = new ArrayList<>();
    Convert.run(new Named("s", listened), new Named("t", new MemoryDevice(src.size())),
        ConvertOptions.DEFAULTS.withTargetIsZero(true), (done, total) -> {
          synchronized (totals) {
            totals.add(total);
          }
        });
    assertThat(quiet.extentQueries()).isEqualTo(1);
    assertThat(listened.extentQueries()).isEqualTo(2);
    assertThat(totals).isNotEmpty().containsOnly((long) pages / 2 * PAGE);
  }

  @Test
  void zeroesAreWrittenWithWriteZeroesWhenTheTargetIsNotKnownZero() throws IOException {
    MemoryDevice src = new MemoryDevice(1 << 20);
    src.write(0, filled(4096, 9), Set.of());
    MemoryDevice dst = new MemoryDevice(1 << 20);
    dst.write(0, filled(1 << 20, 3), Set.of());
    RecordingDevice target = new RecordingDevice(dst);
    Convert.run(new Named("s", src), new Named("t", target), ConvertOptions.DEFAULTS, Progress.NONE);
    assertThat(target.zeroes).containsExactly(new RecordingDevice.Range(4096, (1 << 20) - 4096));
    assertThat(contents(dst, 0, 1 << 20)).isEqualTo(contents(src, 0, 1 << 20));
  }

  @Test
  void aFailedReadNamesTheOperationTheDeviceAndTheOffset() throws IOException {
    MemoryDevice src = new MemoryDevice(8 << 20);
    src.write(0, filled(8 << 20, 1), Set.of());
    BlockDevice failing = new RecordingDevice(src, 5 << 20);
    assertThatThrownBy(() -> Convert.run(new Named("disk.qcow2", failing), new Named("out.raw", new MemoryDevice(8 << 20)),
        ConvertOptions.DEFAULTS, Progress.NONE))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("error while reading 'disk.qcow2' at byte " + (4 << 20))
        .hasMessageContaining("injected failure");
  }

  @Test
  void aTargetSmallerThanTheSourceIsRefusedBeforeAnyWrite() throws IOException {
    RecordingDevice target = new RecordingDevice(new MemoryDevice(1000));
    assertThatThrownBy(() -> Convert.run(new Named("s", new MemoryDevice(1001)), new Named("t", target),
        ConvertOptions.DEFAULTS, Progress.NONE))
        .hasMessageContaining("target 't' has 1000 bytes, the source has 1001");
    assertThat(target.writes).isEmpty();
  }

  @Test
  void aReadOnlyTargetIsRefused() {
    BlockDevice readOnly = new CheckedDevice(new MemoryDevice(4096), true);
    assertThatThrownBy(() -> Convert.run(new Named("s", new MemoryDevice(4096)), new Named("t", readOnly),
        ConvertOptions.DEFAULTS, Progress.NONE))
        .hasMessageContaining("target 't' is read-only");
  }

  @Test
  void optionsOutsideQemuImgsLimitsAreRefused() {
    assertThatThrownBy(() -> ConvertOptions.DEFAULTS.withWorkers(17)).hasMessageContaining("expected: 1 to 16");
    assertThatThrownBy(() -> ConvertOptions.DEFAULTS.withSparseBytes(1000)).hasMessageContaining("multiple of 512");
    assertThatThrownBy(() -> ConvertOptions.DEFAULTS.withSparseBytes(32 << 20)).hasMessageContaining("up to 16777216");
  }

  static ByteBuffer filled(int n, int value) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) value);
    return ByteBuffer.wrap(b);
  }

  static byte[] contents(BlockDevice d, long offset, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    d.read(offset, b);
    return b.array();
  }

  /** The source's ranges that {@link dev.vdisk.format.BlockStatus} calls zero. */
  static List<Extent> zeroExtents(BlockDevice d) throws IOException {
    List<Extent> out = new ArrayList<>();
    long pos = 0;
    while (pos < d.size()) {
      for (Extent e : d.extents(pos, d.size() - pos)) {
        if (e.zero()) {
          out.add(e);
        }
        pos = e.end();
      }
    }
    return out;
  }
}
