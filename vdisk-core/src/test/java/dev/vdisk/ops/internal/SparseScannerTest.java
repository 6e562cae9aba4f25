package dev.vdisk.ops.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link SparseScanner}'s shortcuts (a vectorised scan to the first nonzero byte, a data sector told by its first
 * eight bytes) against the plain definition they replace, qemu-img's {@code is_allocated_sectors_min} with a byte at a
 * time: the same runs for any buffer, threshold, alignment and start sector.
 */
class SparseScannerTest {
  private static final int SECTOR = SparseScanner.SECTOR;

  /** A run of the buffer: zeroes, or zeroes with one nonzero byte at {@code mark} (or every byte nonzero if -1). */
  record Run(int length, boolean zero, int mark) {}

  @Provide
  Arbitrary<List<Run>> runs() {
    Arbitrary<Integer> lengths = Arbitraries.oneOf(Arbitraries.integers().between(1, 3 * SECTOR),
        Arbitraries.of(SECTOR, 2 * SECTOR, 8 * SECTOR, 70_000), Arbitraries.integers().between(1, 150_000));
    Arbitrary<Run> run = Combinators.combine(lengths, Arbitraries.of(true, true, false), Arbitraries.integers()
        .between(-1, 150_000)).as((length, zero, mark) -> new Run(length, zero, mark < 0 ? -1 : mark % length));
    return run.list().ofMinSize(1).ofMaxSize(8);
  }

  @Property(tries = 400)
  void theShortcutsFindTheRunsOfThePlainDefinition(
      @ForAll("runs") List<Run> runs,
      @ForAll @IntRange(min = 1, max = 200) int minSectors,
      @ForAll @IntRange(min = 0, max = 7) int alignmentLog,
      @ForAll @IntRange(min = 0, max = 1000) int startSector,
      @ForAll @IntRange(min = 0, max = 600) int from,
      @ForAll boolean direct) {
    int length = runs.stream().mapToInt(Run::length).sum();
    ByteBuffer buf = direct ? ByteBuffer.allocateDirect(from + length) : ByteBuffer.allocate(from + length);
    int at = from;
    for (Run r : runs) {
      for (int i = 0; i < r.length(); i++) {
        boolean set = !r.zero() && (r.mark() < 0 || r.mark() == i);
        buf.put(at + i, set ? (byte) (1 + (at + i) % 255) : 0);
      }
      at += r.length();
    }
    buf.position(buf.limit()); // a buffer just read into: the scanner reads by absolute index
    int alignment = 1 << alignmentLog;
    assertThat(walk(new SparseScanner(minSectors, alignment)::next, buf, from, length, startSector))
        .isEqualTo(walk(new Plain(minSectors, alignment)::next, buf, from, length, startSector));
  }

  /**
   * Mostly data, the copy's usual buffer, where the scanner probes a sector per threshold: {@link SparseScanner#runs},
   * the runs a convert writes, over data sectors (every byte set, or one byte anywhere, its first eight bytes possibly
   * zero) with zero sectors in runs shorter and longer than the threshold, at the ends too, and a partial last sector.
   */
  @Property(tries = 400)
  void dataWithShortZeroRunsGivesThePlainRuns(
      @ForAll @IntRange(min = 1, max = 300) int sectors,
      @ForAll @IntRange(min = 0, max = 511) int shortLast,
      @ForAll @IntRange(min = 1, max = 40) int minSectors,
      @ForAll @IntRange(min = 0, max = 5) int alignmentLog,
      @ForAll @IntRange(min = 0, max = 100) int startSector,
      @ForAll("zeroRuns") List<Integer> zeroRuns,
      @ForAll long seed) {
    int length = sectors * SECTOR - (sectors > 1 ? shortLast : 0);
    ByteBuffer buf = ByteBuffer.allocateDirect(length);
    java.util.Random random = new java.util.Random(seed);
    for (int s = 0; s < sectors; s++) {
      int end = Math.min(length, (s + 1) * SECTOR);
      if (random.nextBoolean()) {
        for (int i = s * SECTOR; i < end; i++) {
          buf.put(i, (byte) (1 + i % 255));
        }
      } else {
        buf.put(s * SECTOR + random.nextInt(end - s * SECTOR), (byte) 0x40);
      }
    }
    // Zero runs: pairs of (start sector, length) taken modulo the buffer.
    for (int k = 0; k + 1 < zeroRuns.size(); k += 2) {
      int start = zeroRuns.get(k) % sectors;
      for (int s = start; s < Math.min(sectors, start + zeroRuns.get(k + 1)); s++) {
        for (int i = s * SECTOR; i < Math.min(length, (s + 1) * SECTOR); i++) {
          buf.put(i, (byte) 0);
        }
      }
    }
    int alignment = 1 << alignmentLog;
    assertThat(new SparseScanner(minSectors, alignment).runs(buf, length, startSector))
        .containsExactly(walk(new Plain(minSectors, alignment)::next, buf, 0, length, startSector).stream()
            .mapToInt(Integer::intValue).toArray());
  }

  @Provide
  Arbitrary<List<Integer>> zeroRuns() {
    return Arbitraries.integers().between(0, 300).list().ofMaxSize(6);
  }

  @Property(tries = 200)
  void isZeroIsTheByteByByteAnswer(@ForAll("runs") List<Run> runs, @ForAll @IntRange(min = 0, max = 100) int skip) {
    int length = runs.stream().mapToInt(Run::length).sum();
    ByteBuffer buf = ByteBuffer.allocateDirect(length);
    int at = 0;
    for (Run r : runs) {
      if (!r.zero()) {
        buf.put(at + (r.mark() < 0 ? 0 : r.mark()), (byte) 0x80);
      }
      at += r.length();
    }
    int from = Math.min(skip, length - 1);
    assertThat(SparseScanner.isZero(buf, from, length - from)).isEqualTo(Plain.isZero(buf, from, length - from));
  }

  private interface Scan {
    int next(ByteBuffer buf, int from, int bytes, long sectorNum);
  }

  /** The runs that Convert's write loop takes from {@code scan} over {@code buf[from, from + length)}. */
  private static List<Integer> walk(Scan scan, ByteBuffer buf, int from, int length, long startSector) {
    List<Integer> out = new ArrayList<>();
    int pos = 0;
    while (pos < length) {
      int run = scan.next(buf, from + pos, length - pos, startSector + pos / SECTOR);
      out.add(run);
      pos += Math.min(Math.abs(run) * SECTOR, length - pos);
    }
    return out;
  }

  /** The plain definition: qemu-img's is_allocated_sectors_min, a sector and a byte at a time. */
  private record Plain(int minSectors, int alignment) {
    int next(ByteBuffer buf, int from, int bytes, long sectorNum) {
      int n = Math.ceilDiv(bytes, SECTOR);
      int min = Math.min(minSectors, n);
      int first = allocated(buf, from, bytes, n, sectorNum);
      if (first < 0) {
        return first;
      }
      int used = first;
      int checked = first;
      while (checked < n) {
        int r = allocated(buf, from + checked * SECTOR, bytes - checked * SECTOR, n - checked, sectorNum + checked);
        checked += Math.abs(r);
        if (r > 0) {
          used = checked;
        } else if (-r >= min) {
          break;
        }
      }
      return used;
    }

    private int allocated(ByteBuffer buf, int from, int bytes, int n, long sectorNum) {
      boolean isZero = zeroSector(buf, from, bytes, 0);
      int i = 1;
      while (i < n && zeroSector(buf, from, bytes, i) == isZero) {
        i++;
      }
      if (i == n) {
        return isZero ? -i : i;
      }
      int tail = (int) ((sectorNum + i) & (alignment - 1));
      if (tail != 0) {
        if (isZero && i <= tail) {
          isZero = false;
        }
        if (!isZero) {
          i = Math.min(i + alignment - tail, n);
        } else {
          i -= tail;
        }
      }
      return isZero ? -i : i;
    }

    private static boolean zeroSector(ByteBuffer buf, int from, int bytes, int sector) {
      return isZero(buf, from + sector * SECTOR, Math.min(SECTOR, bytes - sector * SECTOR));
    }

    static boolean isZero(ByteBuffer buf, int from, int len) {
      for (int i = from; i < from + len; i++) {
        if (buf.get(i) != 0) {
          return false;
        }
      }
      return true;
    }
  }
}
