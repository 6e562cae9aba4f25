package dev.vdisk.format.qcow2;

import java.io.IOException;

/**
 * Maps guest offsets to what stores them: L1 index, L2 table (through the {@link L2Cache}), L2 entry. Answers
 * with runs: consecutive (sub)clusters of one kind, and for data one contiguous host range, so that a large
 * read becomes one host read per run instead of one per cluster.
 */
final class ClusterMapper {
  /**
   * A run of guest bytes.
   *
   * @param entry the kind, as decoded for the run's first (sub)cluster
   * @param length bytes, at least 1
   * @param hostStart host offset of the run's first byte ({@link L2Entry#NO_OFFSET} where there is none)
   */
  record Run(L2Entry entry, long length, long hostStart) {}

  private final Geometry geometry;
  private final L1Table l1;
  private final L2Cache cache;
  private final L2Entry.Decoder decoder;

  ClusterMapper(Geometry geometry, L1Table l1, L2Cache cache, L2Entry.Decoder decoder) {
    this.geometry = geometry;
    this.l1 = l1;
    this.cache = cache;
    this.decoder = decoder;
  }

  /**
   * The run starting at guest offset {@code offset}, at most {@code max} bytes long and never crossing the end of
   * an L2 table. A compressed run never leaves its cluster.
   */
  Run map(long offset, long max) throws IOException {
    int l2Bits = geometry.l2Bits();
    int clusterBits = geometry.clusterBits();
    long l2Span = geometry.bytesPerL2();
    long limit = Math.min(max, l2Span - (offset & (l2Span - 1)));
    long l2Offset = l1.l2Offset(offset >>> (clusterBits + l2Bits));
    if (l2Offset == 0) {
      return new Run(new L2Entry.Unallocated(L2Entry.NO_OFFSET), limit, L2Entry.NO_OFFSET);
    }
    long[] table = cache.get(l2Offset);
    int subBits = geometry.subclusterBits();
    long unit = 1L << subBits;
    long pos = offset;
    L2Entry first = entryAt(table, pos);
    long hostStart = host(first, pos);
    long length = Math.min(limit, unit - (pos & (unit - 1)));
    if (first instanceof L2Entry.Compressed) {
      return new Run(first, Math.min(limit, geometry.clusterSize() - (offset & geometry.clusterMask())), L2Entry.NO_OFFSET);
    }
    while (length < limit) {
      long next = offset + length;
      L2Entry e = entryAt(table, next);
      if (!continues(first, hostStart, length, e, next)) {
        break;
      }
      length = Math.min(limit, length + unit);
    }
    return new Run(first, length, hostStart);
  }

  /**
   * The host offset of guest byte {@code offset} if {@code [offset, offset + length)} lies in one cluster and {@link
   * #map} answers it as one {@link L2Entry.Normal} run of {@code length} bytes; else {@link L2Entry#NO_OFFSET} (then
   * map tells what the range is, or reports the corrupt entry). Allocates nothing, where map's answer is two objects:
   * the request path's usual case.
   */
  long dataHost(long offset, int length) throws IOException {
    long clusterMask = geometry.clusterMask();
    if (length <= 0 || offset < 0 || length > geometry.clusterEnd(offset) - offset) {
      return L2Entry.NO_OFFSET;
    }
    long l2Offset = l1.l2Offset(geometry.l1Index(offset));
    if (l2Offset == 0) {
      return L2Entry.NO_OFFSET;
    }
    long[] table = cache.get(l2Offset);
    int index = geometry.entryIndex(offset);
    long word;
    long bitmap = 0;
    int first = 0;
    int last = 0;
    if (geometry.wordsPerEntry() == 2) {
      synchronized (table) { // as entryAt: the entry's two words as one writer left them
        word = L2Cache.word(table, index);
        bitmap = L2Cache.word(table, index + 1);
      }
      first = geometry.subcluster(offset);
      last = geometry.subcluster(offset + length - 1);
    } else {
      word = L2Cache.word(table, index);
    }
    long host = decoder.dataHost(word, bitmap, first, last, offset & ~clusterMask);
    return host == L2Entry.NO_OFFSET ? L2Entry.NO_OFFSET : host + (offset & clusterMask);
  }

  private L2Entry entryAt(long[] table, long guest) throws IOException {
    int index = (int) ((guest >>> geometry.clusterBits()) & ((1L << geometry.l2Bits()) - 1));
    int words = geometry.wordsPerEntry();
    long word;
    long bitmap = 0;
    if (words == 2) {
      // The two words as one writer left them (ClusterEntries.setEntry): read apart, a reader racing an allocating
      // write could take the old word (no host offset) with the new bitmap and report a corrupt entry.
      synchronized (table) {
        word = L2Cache.word(table, index * 2);
        bitmap = L2Cache.word(table, index * 2 + 1);
      }
    } else {
      word = L2Cache.word(table, index);
    }
    int sub = geometry.extendedL2() ? (int) ((guest >>> geometry.subclusterBits()) & (Geometry.SUBCLUSTERS - 1)) : 0;
    return decoder.decode(word, bitmap, sub, guest & ~geometry.clusterMask());
  }

  /** Where guest byte {@code guest} of entry {@code e} lives on the host, if it has a place there. */
  private long host(L2Entry e, long guest) {
    long start = switch (e) {
      case L2Entry.Normal n -> n.hostOffset();
      case L2Entry.Zero z -> z.hostOffset();
      case L2Entry.Unallocated u -> u.hostOffset();
      case L2Entry.Compressed c -> L2Entry.NO_OFFSET;
    };
    return start == L2Entry.NO_OFFSET ? L2Entry.NO_OFFSET : start + (guest & geometry.clusterMask());
  }

  /** True if {@code e} at {@code guest} extends a run of {@code first} that is {@code length} bytes long so far. */
  private boolean continues(L2Entry first, long hostStart, long length, L2Entry e, long guest) {
    if (e.getClass() != first.getClass() || e instanceof L2Entry.Compressed) {
      return false;
    }
    long h = host(e, guest);
    if (hostStart == L2Entry.NO_OFFSET || h == L2Entry.NO_OFFSET) {
      return hostStart == h;
    }
    return h == hostStart + length;
  }
}
