package dev.vdisk.ops.internal;

import static dev.vdisk.ops.internal.ConvertTest.contents;
import static dev.vdisk.ops.internal.ConvertTest.filled;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.ops.Progress;
import dev.vdisk.ops.internal.CompareResult.Verdict;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class CompareTest {

  /** Image A, and B made from A's bytes with a few changes and maybe another size (both multiples of 512). */
  record Pair(ConvertTest.Layout a, int sizeB, List<ConvertTest.Fill> changes) {}

  @Provide
  Arbitrary<Pair> pairs() {
    return new ConvertTest().layouts().flatMap(a -> {
      int sizeA = a.size() / 512 * 512 + 512;
      ConvertTest.Layout la = new ConvertTest.Layout(sizeA, a.fills());
      Arbitrary<Integer> sizeB = Arbitraries.oneOf(Arbitraries.just(sizeA),
          Arbitraries.integers().between(1, 1200).map(s -> s * 512));
      Arbitrary<ConvertTest.Fill> change = Combinators.combine(
          Arbitraries.integers().between(0, 600_000),
          Arbitraries.integers().between(1, 5000),
          Arbitraries.of((byte) 0, (byte) 1, (byte) 0x7f)).as(ConvertTest.Fill::new);
      return Combinators.combine(sizeB, change.list().ofMaxSize(2)).as((sb, ch) -> new Pair(la, sb, ch));
    });
  }

  @Property(tries = 300)
  void nonStrictCompareAgreesWithAByteByByteComparison(@ForAll("pairs") Pair pair) throws IOException {
    MemoryDevice a = pair.a().build();
    MemoryDevice b = new MemoryDevice(pair.sizeB());
    int common = (int) Math.min(a.size(), b.size());
    b.write(0, ByteBuffer.wrap(contents(a, 0, common)), Set.of());
    for (ConvertTest.Fill c : pair.changes()) {
      int len = Math.min(c.length(), pair.sizeB() - c.offset());
      if (len > 0) {
        b.write(c.offset(), filled(len, c.value()), Set.of());
      }
    }
    // Make some of B's all-zero pages holes, so allocation differs from A's where the bytes do not.
    b.discard(0, Math.min(8192, pair.sizeB()) / 4096 * 4096);
    if (a.size() > 8192) {
      a.discard(0, 4096);
      b.discard(0, 4096);
    }

    long expected = firstDifference(a, b);
    CompareResult result = Compare.run(new Named("a", a), new Named("b", b), false, Progress.NONE);

    if (expected < 0) {
      assertThat(result.verdict()).isEqualTo(Verdict.IDENTICAL);
    } else {
      assertThat(result.verdict()).isEqualTo(Verdict.CONTENT_MISMATCH);
      assertThat(result.offset()).as("first differing sector").isEqualTo(expected / 512 * 512);
    }
    assertThat(result.sizeWarning()).isEqualTo(a.size() != b.size() && (expected < 0 || expected >= common));
  }

  /** The first byte where A and B differ, a byte past the shorter one reading as zero when absent; -1 if none. */
  private static long firstDifference(MemoryDevice a, MemoryDevice b) throws IOException {
    int longest = (int) Math.max(a.size(), b.size());
    byte[] x = new byte[longest];
    byte[] y = new byte[longest];
    a.read(0, ByteBuffer.wrap(x, 0, (int) a.size()));
    b.read(0, ByteBuffer.wrap(y, 0, (int) b.size()));
    return java.util.Arrays.mismatch(x, y);
  }

  @Test
  void strictModeTellsAllocationAndSizeApartWhereContentsAgree() throws IOException {
    MemoryDevice a = new MemoryDevice(1 << 20);
    MemoryDevice b = new MemoryDevice(1 << 20);
    a.write(0, filled(8192, 1), Set.of());
    b.write(0, filled(8192, 1), Set.of());
    b.write(65536, ByteBuffer.allocate(4096), Set.of()); // allocated zeroes in B, a hole in A
    assertThat(Compare.run(new Named("a", a), new Named("b", b), false, Progress.NONE).verdict()).isEqualTo(Verdict.IDENTICAL);
    CompareResult strict = Compare.run(new Named("a", a), new Named("b", b), true, Progress.NONE);
    assertThat(strict.verdict()).isEqualTo(Verdict.STATUS_MISMATCH);
    assertThat(strict.offset()).isEqualTo(8192); // A's zero run reaches EOF, B's does not: qemu's status words differ there
    assertThat(strict.message()).isEqualTo("Strict mode: Offset 8192 block status mismatch!");

    CompareResult sizes = Compare.run(new Named("a", a), new Named("c", new MemoryDevice(2 << 20)), true, Progress.NONE);
    assertThat(sizes.message()).isEqualTo("Strict mode: Image size mismatch!");
  }

  @Test
  void rangesBothSayAreZeroAreNotReadAndDataIsReadInTwoMiBChunks() throws IOException {
    MemoryDevice a = new MemoryDevice(16 << 20);
    MemoryDevice b = new MemoryDevice(16 << 20);
    a.write(8 << 20, filled(5 << 20, 4), Set.of());
    b.write(8 << 20, filled(5 << 20, 4), Set.of());
    RecordingDevice ra = new RecordingDevice(a);
    CompareResult r = Compare.run(new Named("a", ra), new Named("b", b), false, Progress.NONE);
    assertThat(r.message()).isEqualTo("Images are identical.");
    assertThat(ra.reads).containsExactly(
        new RecordingDevice.Range(8 << 20, 2 << 20),
        new RecordingDevice.Range(10 << 20, 2 << 20),
        new RecordingDevice.Range(12 << 20, 1 << 20));
  }

  @Test
  void aTailOfDataIsADifferenceReportedAfterTheSizeWarning() throws IOException {
    MemoryDevice a = new MemoryDevice(1 << 20);
    MemoryDevice b = new MemoryDevice(2 << 20);
    b.write((1 << 20) + 1000, filled(1, 7), Set.of());
    CompareResult r = Compare.run(new Named("a", a), new Named("b", b), false, Progress.NONE);
    assertThat(r.sizeWarning()).isTrue();
    assertThat(r.message()).isEqualTo("Content mismatch at offset " + ((1 << 20) + 512) + "!");
  }

  @Test
  void aFailedReadIsAReadErrorNamingTheImageAndOffset() throws IOException {
    MemoryDevice a = new MemoryDevice(4 << 20);
    a.write(0, filled(4 << 20, 1), Set.of());
    MemoryDevice b = new MemoryDevice(4 << 20);
    b.write(0, filled(4 << 20, 1), Set.of());
    assertThatThrownBy(() -> Compare.run(new Named("a", a), new Named("b.img", new RecordingDevice(b, 3 << 20)), false,
        Progress.NONE))
        .isInstanceOfSatisfying(CompareException.class, e -> assertThat(e.stage()).isEqualTo(CompareException.Stage.READ))
        .hasMessageStartingWith("Error while reading offset " + (2 << 20) + " of b.img: ");
  }

  @Test
  void progressCountsBytesOfTheLongerImage() throws IOException {
    long[] last = new long[2];
    Compare.run(new Named("a", new MemoryDevice(3 << 20)), new Named("b", new MemoryDevice(5 << 20)), false,
        (done, total) -> {
          last[0] = done;
          last[1] = total;
        });
    assertThat(last).containsExactly(5 << 20, 5 << 20);
  }
}
