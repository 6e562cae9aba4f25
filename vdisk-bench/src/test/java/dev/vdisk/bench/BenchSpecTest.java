package dev.vdisk.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class BenchSpecTest {

  private static List<Long> offsets(BenchSpec spec, long imageSize) {
    List<Long> out = new ArrayList<>();
    long at = spec.offset();
    for (int i = 0; i < spec.count(); i++) {
      out.add(at);
      at = spec.nextOffset(at, imageSize);
    }
    return out;
  }

  @Test
  void defaultsAreQemuImgBenchDefaults() {
    BenchSpec d = BenchSpec.DEFAULTS;
    assertThat(d.count()).isEqualTo(75000);
    assertThat(d.depth()).isEqualTo(64);
    assertThat(d.bufferSize()).isEqualTo(4096);
    assertThat(d.step()).isEqualTo(4096);
    assertThat(d.offset()).isZero();
    assertThat(d.write()).isFalse();
    assertThat(d.pattern()).isZero();
    assertThat(d.flushInterval()).isZero();
    assertThat(d.drain()).isTrue();
  }

  @Test
  void bufferSizeMovesTheStepWithIt() {
    assertThat(BenchSpec.DEFAULTS.withBufferSize(512).step()).isEqualTo(512);
    assertThat(BenchSpec.DEFAULTS.withBufferSize(512).withStep(8192).step()).isEqualTo(8192);
  }

  /** The sequence qemu-img 7.2 bench issued on a 64 KiB image (traced with strace): every 4 KiB slot, then 0 again. */
  @Test
  void offsetsWrapModuloTheImageSizeLikeQemu72() {
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(18);
    List<Long> expected = new ArrayList<>();
    for (long o = 0; o < 65536; o += 4096) {
      expected.add(o);
    }
    expected.add(0L);
    expected.add(4096L);
    assertThat(offsets(spec, 65536)).isEqualTo(expected);
  }

  @Test
  void offsetsWithStartAndLargerStep() {
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(10).withStep(8192).withOffset(4096);
    assertThat(offsets(spec, 65536))
        .containsExactly(4096L, 12288L, 20480L, 28672L, 36864L, 45056L, 53248L, 61440L, 4096L, 12288L);
  }

  @Test
  void aStepThatDoesNotDivideTheSizeRunsPastTheEndAsInQemu72() {
    BenchSpec spec = BenchSpec.DEFAULTS.withCount(14).withStep(5000);
    assertThat(offsets(spec, 65536)).endsWith(60000L, 65000L);
  }

  @Test
  void emptyImageStaysAtZero() {
    assertThat(offsets(BenchSpec.DEFAULTS.withCount(3), 0)).containsExactly(0L, 0L, 0L);
  }

  @Property
  void offsetsAfterTheFirstAreInsideTheImage(@ForAll @LongRange(min = 1, max = 1L << 40) long size,
      @ForAll @LongRange(min = 0, max = 1L << 40) long current, @ForAll @IntRange(min = 0, max = 1 << 30) int step) {
    long next = BenchSpec.DEFAULTS.withStep(step).nextOffset(current, size);
    assertThat(next).isBetween(0L, size - 1);
  }

  @Test
  void refusesWhatQemuImgBenchRefuses() {
    assertThatThrownBy(() -> BenchSpec.DEFAULTS.withCount(-1)).hasMessageContaining("request count: -1");
    assertThatThrownBy(() -> BenchSpec.DEFAULTS.withDepth(0)).hasMessageContaining("queue depth: 0");
    assertThatThrownBy(() -> BenchSpec.DEFAULTS.withPattern(256)).hasMessageContaining("pattern byte: 256");
    assertThatThrownBy(() -> BenchSpec.DEFAULTS.withFlushInterval(100))
        .hasMessageContaining("(expected: write tests only)");
    assertThatThrownBy(() -> BenchSpec.DEFAULTS.withWrite(true).withFlushInterval(10))
        .hasMessageContaining("smaller than the queue depth 64");
    assertThat(BenchSpec.DEFAULTS.withWrite(true).withFlushInterval(64).flushInterval()).isEqualTo(64);
  }
}
