package dev.vdisk.bench.matrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.LongStream;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

/** The workload generator: a real random order over the image, each first write into its own slot. */
class OffsetPlanTest {

  @Property
  void permutationHoldsEveryIndexOnce(@ForAll @IntRange(min = 0, max = 5000) int n, @ForAll long seed) {
    int[] p = Permutation.of(n, seed);
    assertThat(Arrays.stream(p).sorted().toArray()).isEqualTo(java.util.stream.IntStream.range(0, n).toArray());
    assertThat(Permutation.of(n, seed)).as("same seed, same order").isEqualTo(p);
  }

  @Property
  void permutationIsNotTheIdentity(@ForAll @IntRange(min = 64, max = 5000) int n, @ForAll long seed) {
    int[] p = Permutation.of(n, seed);
    long inPlace = java.util.stream.IntStream.range(0, n).filter(i -> p[i] == i).count();
    // A random permutation has about one fixed point; qemu-img's stride would have all of them.
    assertThat(inPlace).isLessThan(n / 4);
  }

  @Property
  void firstWritesLandInDistinctSlotsInsideTheImage(@ForAll @IntRange(min = 1, max = 4096) int slots,
      @ForAll @IntRange(min = 0, max = 4096) int qd1, @ForAll @IntRange(min = 0, max = 4096) int qd16,
      @ForAll @LongRange(min = 0, max = 3) long strideShift, @ForAll long seed) {
    Assume.that(qd1 + qd16 <= slots);
    int stride = 4096 << strideShift;
    long size = (long) slots * stride;
    OffsetPlan plan = OffsetPlan.of(size, stride, qd1, qd16, seed);
    assertThat(plan.freshQd1()).hasSize(qd1);
    assertThat(plan.freshQd16()).hasSize(qd16);
    long[] all = LongStream.concat(Arrays.stream(plan.freshQd1()), Arrays.stream(plan.freshQd16())).toArray();
    Set<Long> distinct = new HashSet<>();
    for (long o : all) {
      assertThat(o % stride).as("slot-aligned").isZero();
      assertThat(o + 4096).as("inside the image").isLessThanOrEqualTo(size);
      assertThat(distinct.add(o / stride)).as("each first write allocates its slot once: " + o).isTrue();
    }
  }

  @Property
  void allFirstWritesTogetherCoverTheImage(@ForAll @IntRange(min = 1, max = 4096) int slots, @ForAll long seed) {
    OffsetPlan plan = OffsetPlan.of((long) slots * 65536, 65536, slots / 8, slots - slots / 8, seed);
    long[] all = LongStream.concat(Arrays.stream(plan.freshQd1()), Arrays.stream(plan.freshQd16())).sorted().toArray();
    assertThat(all).isEqualTo(LongStream.range(0, slots).map(i -> i * 65536).toArray());
  }

  @Property
  void revisitsAreExactlyTheWrittenSlots(@ForAll @IntRange(min = 2, max = 2048) int slots,
      @ForAll @IntRange(min = 0, max = 100) int done1Percent, @ForAll @IntRange(min = 0, max = 100) int done16Percent,
      @ForAll long seed) {
    int qd1 = slots / 4;
    int qd16 = slots / 2;
    OffsetPlan plan = OffsetPlan.of((long) slots * 65536, 65536, qd1, qd16, seed);
    int done1 = qd1 * done1Percent / 100;
    int done16 = qd16 * done16Percent / 100;
    long[] expected = LongStream.concat(Arrays.stream(plan.freshQd1(), 0, done1), Arrays.stream(plan.freshQd16(), 0, done16))
        .sorted().toArray();
    for (int pass : new int[] {1, 2}) {
      assertThat(Arrays.stream(plan.revisit(done1, done16, pass)).sorted().toArray()).isEqualTo(expected);
    }
  }

  @Property
  void sequentialWalksTheImageInMebibytes(@ForAll @IntRange(min = 1, max = 512) int mib, @ForAll long seed) {
    OffsetPlan plan = OffsetPlan.of((long) mib << 20, 65536, 1, 1, seed);
    assertThat(plan.sequential()).isEqualTo(LongStream.range(0, mib).map(i -> i << 20).toArray());
  }

  @Property
  void refusesMoreFirstWritesThanSlots(@ForAll @IntRange(min = 1, max = 100) int slots, @ForAll @IntRange(min = 1, max = 50) int extra) {
    assertThatThrownBy(() -> OffsetPlan.of((long) slots * 65536, 65536, slots, extra, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expected: at most one first write per slot");
  }
}
