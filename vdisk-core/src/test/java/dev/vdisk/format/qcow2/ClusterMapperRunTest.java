package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link ClusterMapper#map} over one-word L2 entries (no extended L2) answers the run that decoding every entry
 * answers: the first entry's kind and host offset, as long as the entries that follow decode to the same kind with
 * the next host cluster (or no host offset, as the first), and a corrupt entry inside the run reported as such. The
 * tables are made of runs (the same word again, or the next host cluster each time) broken by other flags, a gap in
 * the host offsets, a reserved bit, an offset whose next cluster carries past the offset field, with and without an
 * external data file, for version 2 and 3 images.
 */
class ClusterMapperRunTest {
  /** 512-byte clusters: a 64-entry L2 table. */
  private static final Geometry GEOMETRY = new Geometry(9, false);
  /** GEOMETRY's entries per L2 table, a constant for the annotations. */
  private static final int ENTRIES = 64;
  private static final long CLUSTER = GEOMETRY.clusterSize();

  @Property(tries = 600)
  void answersTheRunThatDecodingEveryEntryAnswers(@ForAll boolean dataFile, @ForAll("versions") int version,
      @ForAll("segments") List<long[]> segments, @ForAll @IntRange(min = 0, max = ENTRIES - 1) int at,
      @ForAll @IntRange(min = 1, max = ENTRIES) int clusters) throws IOException {
    assertThat(1 << GEOMETRY.l2Bits()).isEqualTo(ENTRIES);
    long[] table = table(segments);
    L2Entry.Decoder decoder = new L2Entry.Decoder(GEOMETRY, version, dataFile);
    L2Cache cache = new L2Cache(1 << 20, table.length * 8, off -> table);
    ClusterMapper mapper = new ClusterMapper(GEOMETRY, L1Table.ofSnapshot(0, new long[] {1L << 30}), cache, decoder);
    long offset = at * CLUSTER;
    long max = clusters * CLUSTER;

    ClusterMapper.Run expected;
    try {
      expected = decodedRun(decoder, table, offset, max);
    } catch (IOException corrupt) {
      assertThatThrownBy(() -> mapper.map(offset, max)).isInstanceOf(IOException.class)
          .hasMessage(corrupt.getMessage());
      return;
    }
    assertThat(mapper.map(offset, max)).isEqualTo(expected);
  }

  /** The run by decoding each entry: a compressed entry is a run of one, others extend while kind and host agree. */
  private static ClusterMapper.Run decodedRun(L2Entry.Decoder decoder, long[] table, long offset, long max)
      throws IOException {
    long limit = Math.min(max, ENTRIES * CLUSTER - offset);
    L2Entry first = decoder.decode(table[(int) (offset / CLUSTER)], 0, 0, offset);
    if (first instanceof L2Entry.Compressed) {
      return new ClusterMapper.Run(first, CLUSTER, L2Entry.NO_OFFSET);
    }
    long hostStart = host(first);
    long length = CLUSTER;
    while (length < limit) {
      long next = offset + length;
      L2Entry e = decoder.decode(table[(int) (next / CLUSTER)], 0, 0, next);
      long h = host(e);
      boolean same = e.getClass() == first.getClass()
          && (hostStart == L2Entry.NO_OFFSET || h == L2Entry.NO_OFFSET ? h == hostStart : h == hostStart + length);
      if (!same) {
        break;
      }
      length += CLUSTER;
    }
    return new ClusterMapper.Run(first, length, hostStart);
  }

  private static long host(L2Entry e) {
    return switch (e) {
      case L2Entry.Normal n -> n.hostOffset();
      case L2Entry.Zero z -> z.hostOffset();
      case L2Entry.Unallocated u -> u.hostOffset();
      case L2Entry.Compressed c -> L2Entry.NO_OFFSET;
    };
  }

  /**
   * The table the segments describe, repeated to fill it: each is {flags, host, count, step}, {@code count} entries
   * from the word of those flags and host offset, each the one before plus {@code step} host clusters (0: the same word
   * again). A host of {@link #FOLLOWING} is the cluster after the previous entry's host cluster.
   */
  private static long[] table(List<long[]> segments) {
    long[] table = new long[ENTRIES];
    int i = 0;
    while (i < ENTRIES) {
      for (long[] s : segments) {
        long host = s[1] == FOLLOWING ? (i == 0 ? 0 : (table[i - 1] & Geometry.OFFSET_MASK) + CLUSTER) : s[1];
        for (int k = 0; k < s[2] && i < ENTRIES; k++, i++) {
          table[i] = s[0] + host + k * s[3] * CLUSTER;
        }
      }
    }
    return table;
  }

  /** A segment's host offset that continues the previous entry's host offset, whatever its flags. */
  private static final long FOLLOWING = -1;

  @Provide
  Arbitrary<Integer> versions() {
    return Arbitraries.of(2, 3);
  }

  /**
   * Segments of the table: flags (a reserved bit among them), a host offset (none, the cluster after the previous
   * entry's, an unaligned one, one whose next cluster carries past bit 55), a length and a step of 0 or 1 cluster.
   * Without a host offset and with the COPIED flag, an entry is the data file's cluster at host offset 0 (valid at
   * guest offset 0 only).
   */
  @Provide
  Arbitrary<List<long[]>> segments() {
    Arbitrary<Long> flags = Arbitraries.of(0L, Geometry.COPIED, Geometry.ZERO, Geometry.COPIED | Geometry.ZERO,
        Geometry.COMPRESSED, Geometry.COPIED | 2L);
    Arbitrary<Long> host = Arbitraries.oneOf(Arbitraries.just(0L), Arbitraries.just(FOLLOWING),
        Arbitraries.longs().between(1, 40).map(c -> c * CLUSTER), Arbitraries.just(CLUSTER + 256),
        Arbitraries.just(Geometry.OFFSET_MASK & -CLUSTER));
    return Combinators.combine(flags, host, Arbitraries.integers().between(1, 24), Arbitraries.of(0L, 1L))
        .as((f, h, n, step) -> new long[] {f, h, n, step}).list().ofMinSize(1).ofMaxSize(6);
  }
}
