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
    // Without extended L2 an entry is one word, read once: the word the run's first entry was decoded from is the
    // one the next entry's word is compared with.
    boolean oneWord = geometry.wordsPerEntry() == 1;
    long word = oneWord ? L2Cache.word(table, geometry.entryIndex(pos)) : 0;
    L2Entry first = oneWord ? decoder.decode(word, 0, 0, pos & ~geometry.clusterMask()) : extendedEntryAt(table, pos);
    long hostStart = host(first, pos);
    long length = Math.min(limit, unit - (pos & (unit - 1)));
    if (first instanceof L2Entry.Compressed) {
      return new Run(first, Math.min(limit, geometry.clusterSize() - (offset & geometry.clusterMask())), L2Entry.NO_OFFSET);
    }
    while (length < limit) {
      long next = offset + length;
      if (oneWord) {
        long nextWord = L2Cache.word(table, geometry.entryIndex(next));
        boolean extended = extendsRun(word, nextWord);
        word = nextWord;
        if (extended) {
          length = Math.min(limit, length + unit);
          continue;
        }
      }
      L2Entry e = oneWord ? decoder.decode(word, 0, 0, next) : extendedEntryAt(table, next);
      if (!continues(first, hostStart, length, e, next)) {
        break;
      }
      length = Math.min(limit, length + unit);
    }
    return new Run(first, length, hostStart);
  }

  /**
   * Whether the one-word entry {@code next} of the cluster after {@code word}'s decodes as {@code word} does and
   * extends its run, told from the raw words alone: the same flags and the next host cluster, or, without a host
   * offset, the same word. The usual case of a long run, where decoding each entry (an object per cluster, and
   * interpreted code until the JIT has compiled it) is most of a block-status query's work: 8,192 entries per 512 MiB
   * table of 64 KiB clusters, which a convert's first write waits for. False leaves the answer to the decoder.
   */
  private boolean extendsRun(long word, long next) {
    long host = word & Geometry.OFFSET_MASK;
    if (host == 0) {
      // The COPIED bit without a host offset is a cluster at host offset 0 in an external data file.
      return next == word && (word & Geometry.COPIED) == 0;
    }
    return (next & ~Geometry.OFFSET_MASK) == (word & ~Geometry.OFFSET_MASK)
        && (next & Geometry.OFFSET_MASK) == host + geometry.clusterSize();
  }

  /**
   * The host offset of guest byte {@code offset} if {@link #map} answers {@code [offset, offset + length)} as one
   * {@link L2Entry.Normal} run of {@code length} bytes: normal data (sub)clusters of one L2 table that lie one after
   * the other on the host, in one cluster or several (a 1 MiB request over 64 KiB clusters is one host range where
   * the image's file holds them in order, as a preallocated or sequentially written image does); else {@link
   * L2Entry#NO_OFFSET} (then map tells what the range is, or reports the corrupt entry). Allocates nothing, where
   * map's answer is two objects: the request path's usual case.
   */
  long dataHost(long offset, int length) throws IOException {
    long end = offset + length;
    if (length <= 0 || offset < 0 || geometry.l1Index(offset) != geometry.l1Index(end - 1)) {
      return L2Entry.NO_OFFSET;
    }
    long l2Offset = l1.l2Offset(geometry.l1Index(offset));
    if (l2Offset == 0) {
      return L2Entry.NO_OFFSET;
    }
    long[] table = cache.get(l2Offset);
    long host = clusterDataHost(table, offset, Math.min(end, geometry.clusterEnd(offset)));
    for (long pos = geometry.clusterEnd(offset); pos < end && host != L2Entry.NO_OFFSET; pos += geometry.clusterSize()) {
      if (clusterDataHost(table, pos, Math.min(end, geometry.clusterEnd(pos))) != host + (pos - offset)) {
        return L2Entry.NO_OFFSET;
      }
    }
    return host;
  }

  /** {@link #dataHost} of {@code [offset, to)}, which lie in one cluster of L2 table {@code table}. */
  private long clusterDataHost(long[] table, long offset, long to) {
    int index = geometry.entryIndex(offset);
    long word;
    long bitmap = 0;
    int first = 0;
    int last = 0;
    if (geometry.wordsPerEntry() == 2) {
      synchronized (table) { // as extendedEntryAt: the entry's two words as one writer left them
        word = L2Cache.word(table, index);
        bitmap = L2Cache.word(table, index + 1);
      }
      first = geometry.subcluster(offset);
      last = geometry.subcluster(to - 1);
    } else {
      word = L2Cache.word(table, index);
    }
    long clusterMask = geometry.clusterMask();
    long host = decoder.dataHost(word, bitmap, first, last, offset & ~clusterMask);
    return host == L2Entry.NO_OFFSET ? L2Entry.NO_OFFSET : host + (offset & clusterMask);
  }

  /** The entry of guest byte {@code guest}'s subcluster in an image with extended L2 entries (two words each). */
  private L2Entry extendedEntryAt(long[] table, long guest) throws IOException {
    int index = geometry.entryIndex(guest);
    long word;
    long bitmap;
    // The two words as one writer left them (ClusterEntries.setEntry): read apart, a reader racing an allocating
    // write could take the old word (no host offset) with the new bitmap and report a corrupt entry.
    synchronized (table) {
      word = L2Cache.word(table, index);
      bitmap = L2Cache.word(table, index + 1);
    }
    int sub = (int) ((guest >>> geometry.subclusterBits()) & (Geometry.SUBCLUSTERS - 1));
    return decoder.decode(word, bitmap, sub, guest & ~geometry.clusterMask());
  }

  /**
   * Where guest byte {@code guest} of entry {@code e} lives on the host, if it has a place there (a compressed
   * cluster's bytes are not the guest's). An instanceof rather than a pattern switch: the switch's bootstrap generates
   * a class on its first run, in a convert before its first write.
   */
  private long host(L2Entry e, long guest) {
    long start = e instanceof L2Entry.Compressed ? L2Entry.NO_OFFSET : e.hostOffset();
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
