package dev.vdisk.io.rbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.Extent;
import java.util.List;
import org.junit.jupiter.api.Test;

/** rbd_diff_iterate2's runs turned into extents as QEMU's block status reports them: existing objects data, gaps zero. */
class RbdDiffCollectorTest {
  private static final long M = 1 << 20;

  @Test
  void gapsBetweenExistingRunsAreZeroAndTheTailToo() {
    RbdDiffCollector c = new RbdDiffCollector(0, 24 * M);
    assertThat(c.accept(4 * M, 4 * M, true)).isZero();
    assertThat(c.accept(12 * M, 4 * M, true)).isZero();
    assertThat(c.extents(false)).containsExactly(Extent.zero(0, 4 * M, 0), Extent.data(4 * M, 4 * M, 4 * M),
        Extent.zero(8 * M, 4 * M, 8 * M), Extent.data(12 * M, 4 * M, 12 * M), Extent.zero(16 * M, 8 * M, 16 * M));
  }

  @Test
  void runsFromTheAlignedStartAreClippedAndNeighboursMerged() {
    // The iteration starts at the object boundary below the asked offset (librbd < 1.17 needs that).
    RbdDiffCollector c = new RbdDiffCollector(5 * M, 11 * M);
    c.accept(4 * M, 4 * M, true);
    c.accept(8 * M, 4 * M, true);
    assertThat(c.extents(true)).containsExactly(Extent.data(5 * M, 6 * M, 5 * M));
  }

  @Test
  void absentRunsAreIgnoredAndAnEmptyRangeIsOneZeroExtent() {
    RbdDiffCollector c = new RbdDiffCollector(M, 4 * M);
    assertThat(c.accept(0, 8 * M, false)).isZero();
    assertThat(c.extents(false)).containsExactly(Extent.zero(M, 3 * M, M));
  }

  @Test
  void theIterationStopsOnceTheRangeIsCoveredOrTheListIsFull() {
    RbdDiffCollector covered = new RbdDiffCollector(0, 4 * M);
    assertThat(covered.accept(0, 8 * M, true)).isEqualTo(RbdCallbacks.STOP);

    RbdDiffCollector full = new RbdDiffCollector(0, Long.MAX_VALUE / 2);
    int rc = 0;
    long at = 0;
    while (rc == 0) {
      rc = full.accept(at + M, M, true);
      at += 2 * M;
    }
    List<Extent> extents = full.extents(true);
    assertThat(extents).hasSizeLessThanOrEqualTo(RbdDiffCollector.MAX_EXTENTS);
    assertThat(extents.getFirst().offset()).isZero();
    for (int i = 1; i < extents.size(); i++) {
      assertThat(extents.get(i).offset()).isEqualTo(extents.get(i - 1).end());
    }
  }
}
