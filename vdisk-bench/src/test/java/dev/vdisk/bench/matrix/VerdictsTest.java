package dev.vdisk.bench.matrix;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The sentences say what the given numbers say: clear differences with their factor, noise as no difference. */
class VerdictsTest {
  private final List<CellResult> cells = new ArrayList<>();

  private void cell(String layout, String mode, Workload w, double... samples) {
    cells.add(new CellResult(layout, mode, w.key(), Verdicts.unit(w), Samples.of(samples),
        new CellResult.Latency(1, 2, 3, 20_000, 1, 100), 100, 0, null, null));
  }

  private Verdicts.Outcome outcome() {
    return Verdicts.of(cells, List.of(), List.of(), List.of());
  }

  private ClaimAnswer claim(Verdicts.Outcome o, String topic) {
    return o.claims().stream().filter(c -> c.topic().equals(topic)).findFirst().orElseThrow();
  }

  @Test
  void aClearDifferenceGetsItsFactorAndNumbers() {
    cell("raw-sparse", "writeback", Workload.OVERWRITE_QD16, 70_000, 72_000, 74_000);
    cell("raw-sparse", "writethrough", Workload.OVERWRITE_QD16, 3_000, 3_100, 3_200);
    cell("raw-sparse", "writeback", Workload.READ_QD16, 100_000, 101_000, 102_000);
    cell("raw-sparse", "writethrough", Workload.READ_QD16, 99_000, 100_000, 103_000);
    Verdicts.Outcome o = outcome();
    assertThat(o.verdicts()).extracting(Verdict::sentence).contains(
        "writethrough: 4 KiB overwrites at depth 16 on raw-sparse are 23x slower than writeback here (3,100 vs 72,000 IOPS;"
            + " repeats spread 6.5% and 5.6%)",
        "writethrough: 4 KiB random reads at depth 16 on raw-sparse: no measurable difference from writeback (0.99x,"
            + " 100,000 vs 101,000 IOPS, inside the repeats' noise of 5.0%)");
    ClaimAnswer c = claim(o, Verdicts.CACHE_MODES);
    assertThat(c.answer()).isEqualTo(ClaimAnswer.PARTLY);
  }

  @Test
  void overlappingNoisyRepeatsAreNoMeasurableDifferenceWhateverTheMedians() {
    // Medians 2x apart, but the repeats overlap: the noise decides.
    cell("raw-sparse", "writeback", Workload.OVERWRITE_QD16, 10_000, 40_000, 90_000);
    cell("raw-sparse", "writethrough", Workload.OVERWRITE_QD16, 15_000, 20_000, 50_000);
    cell("raw-sparse", "writeback", Workload.READ_QD16, 1_000, 1_000);
    cell("raw-sparse", "writethrough", Workload.READ_QD16, 1_000, 1_000);
    Verdicts.Outcome o = outcome();
    assertThat(o.verdicts().getFirst().measurable()).isFalse();
    assertThat(o.verdicts().getFirst().sentence()).isEqualTo(
        "writethrough: 4 KiB overwrites at depth 16 on raw-sparse: no measurable difference from writeback (0.5x, 20,000 vs 40,000 IOPS, inside the repeats' noise of 200%)");
    assertThat(claim(o, Verdicts.CACHE_MODES).answer()).isEqualTo(ClaimAnswer.NOT_SUPPORTED);
  }

  @Test
  void equalNumbersAreNoDifference() {
    for (String mode : List.of("writeback", "writethrough")) {
      cell("raw-sparse", mode, Workload.OVERWRITE_QD16, 5_000, 5_000);
      cell("raw-sparse", mode, Workload.READ_QD16, 5_000, 5_000);
    }
    Verdicts.Outcome o = outcome();
    assertThat(o.verdicts()).allSatisfy(v -> assertThat(v.sentence()).contains("no measurable difference from writeback (1.00x, 5,000 vs 5,000 IOPS"));
    assertThat(claim(o, Verdicts.CACHE_MODES).answer()).isEqualTo(ClaimAnswer.NOT_SUPPORTED);
  }

  @Test
  void aSmallButCleanDifferenceInsideTheFloorIsNoDifference() {
    // 3% apart with no overlap: still inside the 5% floor that two or three repeats cannot rule out.
    Comparison c = new Comparison(Samples.of(103, 103.1), Samples.of(100, 100.1));
    assertThat(c.measurable()).isFalse();
    assertThat(new Comparison(Samples.of(120, 121), Samples.of(100, 101)).faster()).isTrue();
  }

  @Test
  void unpreallocatedQcow2SlowerOnlyForFirstWritesIsPartly() {
    for (String mode : List.of("writeback", "none")) {
      cell("qcow2-off", mode, Workload.FRESH_QD16, 25_000, 26_000, 27_000);
      cell("qcow2-metadata", mode, Workload.FRESH_QD16, 100_000, 104_000, 108_000);
      cell("qcow2-off", mode, Workload.OVERWRITE_QD16, 130_000, 132_000, 134_000);
      cell("qcow2-metadata", mode, Workload.OVERWRITE_QD16, 131_000, 133_000, 135_000);
    }
    Verdicts.Outcome o = outcome();
    ClaimAnswer c = claim(o, Verdicts.PREALLOCATION);
    assertThat(c.answer()).isEqualTo(ClaimAnswer.PARTLY);
    assertThat(c.because()).contains(
        "qcow2 without preallocation, writeback: 4 KiB first writes at depth 16 are 4.0x slower than preallocation=metadata"
            + " here (26,000 vs 104,000 IOPS; repeats spread 7.7% and 7.7%)",
        "qcow2 without preallocation, writeback, once allocated: 4 KiB overwrites at depth 16: no measurable difference"
            + " from preallocation=metadata (0.99x, 132,000 vs 133,000 IOPS, inside the repeats' noise of 5.0%)");
  }

  @Test
  void metadataAndDiscardAnswers() {
    long mib = 1 << 20;
    SpaceBreakdown created = new SpaceBreakdown("qcow2", 256 * mib, 327680, 327680, 65536, 262144, 0, 0, 0, 256 * mib);
    SpaceBreakdown after = new SpaceBreakdown("qcow2", 256 * mib, 200 * mib, 200 * mib, 65536, 327680, 160 * mib, 0, 0, 96 * mib);
    List<LayoutBreakdown> breakdowns = List.of(new LayoutBreakdown("qcow2-off", LayoutBreakdown.CREATED, created),
        new LayoutBreakdown("qcow2-off", LayoutBreakdown.FIRST_WRITES, after));
    List<DiscardResult> discards = List.of(
        new DiscardResult("raw-sparse", 64 * mib, new DiscardResult.Space(64 * mib, 0), new DiscardResult.Space(64 * mib, 64 * mib)),
        new DiscardResult("qcow2-off", 64 * mib, new DiscardResult.Space(65 * mib, 65 * mib), new DiscardResult.Space(65 * mib, 65 * mib)));
    Verdicts.Outcome o = Verdicts.of(List.of(), breakdowns, discards, List.of());
    ClaimAnswer metadata = claim(o, Verdicts.METADATA);
    assertThat(metadata.answer()).isEqualTo(ClaimAnswer.NOT_SUPPORTED);
    assertThat(metadata.because()).containsExactly(
        "qcow2 metadata for this 256 MiB image (qcow2-off, after the first writes): 320 KiB (0.12% of the virtual size);"
            + " data 160 MiB, preallocated zeroes 0 B, unused 0 B",
        "a 66 GiB disk would carry about 17 MiB of qcow2 metadata (0.025%): a new image's 256 KiB plus the largest"
            + " growth measured here, 256 KiB per GiB of virtual disk");
    ClaimAnswer discard = claim(o, Verdicts.DISCARD);
    assertThat(discard.answer()).isEqualTo(ClaimAnswer.PARTLY);
    assertThat(discard.because().getFirst()).isEqualTo("discard=unmap on raw-sparse returned 64 MiB of the 64 MiB written"
        + " to the host (allocated 64 MiB before, 0 B after); discard=ignore returned nothing (0 B)");
  }

  @Test
  void claimsWithoutTheirLayoutsAreNotMeasured() {
    Verdicts.Outcome o = outcome();
    assertThat(o.claims()).hasSize(4).allSatisfy(c -> assertThat(c.answer()).isEqualTo(ClaimAnswer.NOT_MEASURED));
  }
}
