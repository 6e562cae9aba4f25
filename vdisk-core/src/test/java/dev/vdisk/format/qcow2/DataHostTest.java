package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link ClusterMapper#dataHost}, the request path's allocation-free lookup, answers a host offset exactly where
 * {@link ClusterMapper#map} answers one data run covering the request, inside one cluster or across clusters that
 * follow each other on the host, and nothing elsewhere (other kinds, entries that map reports as corrupt, clusters
 * apart on the host), over L2 tables of every kind of entry, with and without extended L2 entries and external data
 * files.
 */
class DataHostTest {
  /** Small clusters (a 64-entry L2 table) without extended L2; 16 KiB clusters of 512-byte subclusters with. */
  private static int clusterBits(boolean extended) {
    return extended ? 14 : 9;
  }

  @Property(tries = 400)
  void answersWhatMapAnswersForOneDataRun(@ForAll boolean extended, @ForAll boolean dataFile,
      @ForAll("versions") int version, @ForAll("tables") long[] words, @ForAll @IntRange(min = 0, max = 1 << 20) int at,
      @ForAll @IntRange(min = 1, max = 1 << 15) int length, @ForAll boolean inOrder) throws IOException {
    Geometry g = new Geometry(clusterBits(extended), extended);
    int entries = 1 << g.l2Bits();
    long[] table = new long[entries * g.wordsPerEntry()];
    long span = (long) entries << g.clusterBits();
    for (int i = 0; i < table.length; i++) {
      long w = words[i % words.length];
      boolean bitmapWord = extended && i % 2 == 1;
      // Host offsets in units of clusters (some unaligned by the generator); a data file maps a cluster to itself.
      table[i] = bitmapWord ? w : shift(w, g, dataFile, i / g.wordsPerEntry(), inOrder);
    }
    long l2Offset = 1L << 30;
    L2Cache cache = new L2Cache(1 << 20, table.length * 8, off -> table);
    ClusterMapper mapper = new ClusterMapper(g, L1Table.ofSnapshot(0, new long[] {l2Offset}), cache,
        new L2Entry.Decoder(g, version, dataFile));
    long offset = at % span;
    int n = (int) Math.min(length, span - offset);

    long expected = L2Entry.NO_OFFSET;
    try {
      ClusterMapper.Run run = mapper.map(offset, n);
      if (run.entry() instanceof L2Entry.Normal && run.length() == n) {
        expected = run.hostStart();
      }
    } catch (IOException corrupt) {
      // map reports it; dataHost answers nothing, so that the caller's map does
    }
    assertThat(mapper.dataHost(offset, n)).isEqualTo(expected);
  }

  /**
   * Places the generator's cluster number {@code w} (flags kept) as a host offset of geometry {@code g}; {@code
   * inOrder}: entry {@code index}'s own cluster number instead, plus one, so that neighbouring entries map to
   * neighbours on the host (runs across clusters, broken where the flags or the subclusters differ).
   */
  private static long shift(long w, Geometry g, boolean dataFile, int index, boolean inOrder) {
    long flags = w & (Geometry.COPIED | Geometry.COMPRESSED | Geometry.ZERO);
    long cluster = inOrder ? index + 1 : w & 0xff;
    if (dataFile && (w & 0x100) != 0) {
      cluster = index; // a valid data file entry
    }
    long host = cluster << g.clusterBits();
    if ((w & 0x200) != 0) {
      host += 512; // unaligned: corrupt
    }
    return flags | (host & Geometry.OFFSET_MASK);
  }

  @Provide
  Arbitrary<Integer> versions() {
    return Arbitraries.of(2, 3);
  }

  /** Entry words (flags, a cluster number, a data file's own cluster, an unaligned offset) and subcluster bitmaps. */
  @Provide
  Arbitrary<long[]> tables() {
    Arbitrary<Long> flags = Arbitraries.of(0L, Geometry.COPIED, Geometry.ZERO, Geometry.COPIED | Geometry.ZERO,
        Geometry.COMPRESSED);
    Arbitrary<Long> cluster = Arbitraries.longs().between(0, 0x3ff);
    Arbitrary<Long> word = flags.flatMap(f -> cluster.map(c -> f | c));
    Arbitrary<Long> bitmap = Arbitraries.of(0L, -1L, 0xffffffffL, 0xffffffffL << 32, 0x0000ffffL, 0xffff0000L,
        (0x0fL << 32) | 0xfff0L, 1L, 1L << 32);
    return Arbitraries.oneOf(word, bitmap).array(long[].class).ofMinSize(1).ofMaxSize(9);
  }
}
