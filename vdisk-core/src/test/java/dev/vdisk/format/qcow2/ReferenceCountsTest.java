package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ReferenceCountsTest {
  private final List<String> lines = new ArrayList<>();
  private final CheckTally tally = new CheckTally(p -> lines.add(p.message()));

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6})
  void countsEveryClusterARangeTouchesAndSaturatesAtTheWidthsMaximum(int order) throws IOException {
    RefcountWidth w = new RefcountWidth(order);
    ReferenceCounts refs = new ReferenceCounts(100 * 512, 9, w, tally);
    refs.add(700, 1000); // bytes 700..1699: clusters 1, 2, 3
    refs.add(1536, 1);
    assertThat(new long[] {refs.get(0), refs.get(1), refs.get(2), refs.get(3), refs.get(4)}).containsExactly(0, 1, 1, order == 0 ? 1 : 2, 0);
    assertThat(tally.corruptions).isEqualTo(order == 0 ? 1 : 0);
    // Neighbours of a saturated entry keep their counts.
    long max = order == 6 ? 3 : w.max();
    for (long i = 0; i < Math.min(max, 20); i++) {
      refs.add(10 * 512, 512);
    }
    assertThat(refs.get(9)).isZero();
    assertThat(refs.get(11)).isZero();
  }

  @Test
  void overflowIsACorruptionNamedAsQemuNamesIt() throws IOException {
    ReferenceCounts refs = new ReferenceCounts(4096, 9, new RefcountWidth(0), tally);
    refs.add(1024, 512);
    refs.add(1024, 512);
    assertThat(refs.get(2)).isEqualTo(1);
    assertThat(tally.corruptions).isEqualTo(1);
    assertThat(lines.getFirst()).isEqualTo("ERROR: overflow cluster offset=0x400");
  }

  @Test
  void aRangeAClusterOrMorePastTheEndIsACorruptionAndCountsNothing() throws IOException {
    ReferenceCounts refs = new ReferenceCounts(10 * 512 + 100, 9, new RefcountWidth(4), tally);
    assertThat(refs.clusters()).isEqualTo(11);
    refs.add(10 * 512, 611); // ends 511 bytes past the end: allowed, one more cluster counted
    assertThat(refs.clusters()).isEqualTo(12);
    assertThat(refs.get(11)).isEqualTo(1);
    refs.add(10 * 512, 612);
    assertThat(tally.corruptions).isEqualTo(1);
    assertThat(refs.get(10)).isEqualTo(1);
    assertThat(lines).containsExactly("ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x1400 size 0x264");
  }

  @Test
  void aNegativeOffsetStopsTheCheck() throws IOException {
    ReferenceCounts refs = new ReferenceCounts(4096, 9, new RefcountWidth(4), tally);
    assertThatThrownBy(() -> refs.add(-512, 512)).isInstanceOf(IOException.class).hasMessageContaining("(expected: a range inside the image file");
    assertThat(tally.checkErrors).isEqualTo(1);
  }

  @Test
  void refusesFilesWithMoreClustersThanQemuChecks() {
    assertThatThrownBy(() -> new ReferenceCounts((ReferenceCounts.MAX_CLUSTERS + 1) << 9, 9, new RefcountWidth(0), tally))
        .isInstanceOf(IOException.class).hasMessageContaining("at most 2147483647 clusters");
  }

  /** 64-bit counts of just over heap / 16 clusters: an array just over half the heap, refused before allocating. */
  @Test
  void refusesCountsLargerThanHalfTheHeap() {
    long fileSize = (Runtime.getRuntime().maxMemory() / 16 + 1) << 9;
    assertThatThrownBy(() -> new ReferenceCounts(fileSize, 9, new RefcountWidth(6), tally))
        .isInstanceOf(IOException.class).hasMessageContaining("at most half of the JVM's maximum heap of");
    assertThat(tally.checkErrors).isEqualTo(1);
  }
}
