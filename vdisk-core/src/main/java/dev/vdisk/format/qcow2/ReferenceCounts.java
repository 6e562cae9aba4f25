package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.util.Arrays;

/**
 * The reference count of every host cluster as computed from the metadata during a check, in entries as wide as
 * the image's own refcounts (1 to 64 bits, packed into longs), so that a count overflows exactly where the image's
 * refcount would.
 *
 * <p><b>Memory bound:</b> one entry per cluster the file holds, plus one: a reference may end up to one cluster
 * past the end of the file before it counts as a corruption (the last cluster may be partly written). That is
 * {@code (ceil(file size / cluster size) + 1) * refcount_bits / 8} bytes, rounded up to 8: for a 1 TiB file at 64
 * KiB clusters and 16-bit refcounts, 32 MiB. Files of more than {@link #MAX_CLUSTERS} clusters are refused, as
 * QEMU refuses them, and so is an array larger than half the JVM's maximum heap or than the heap can hold.
 */
final class ReferenceCounts {
  /** QEMU's limit: INT_MAX clusters. */
  static final long MAX_CLUSTERS = Integer.MAX_VALUE;

  private long[] words;
  private final RefcountWidth width;
  private final int clusterBits;
  private final long fileSize;
  private final CheckTally tally;
  private long clusters;

  /**
   * Counts for a file of {@code fileSize} bytes.
   *
   * @throws IOException when the file has too many clusters to count in memory
   */
  ReferenceCounts(long fileSize, int clusterBits, RefcountWidth width, CheckTally tally) throws IOException {
    long nb = Math.ceilDiv(fileSize, 1L << clusterBits);
    if (nb > MAX_CLUSTERS) {
      tally.checkErrors++;
      throw Qcow2Errors.unsupported("image file size", fileSize + " bytes, " + nb + " clusters",
          "at most " + MAX_CLUSTERS + " clusters to check (File too large)");
    }
    long perWord = 64 >> width.order();
    long longs = Math.ceilDiv(nb + 1, perWord);
    // Against the heap's maximum, not what is free now: garbage not yet collected counts as used until a collection,
    // so a busy heap (the library inside a server, tests side by side) made even an 8-byte array look too large.
    long heap = Runtime.getRuntime().maxMemory();
    if (longs > Integer.MAX_VALUE - 8 || longs * 8 > heap / 2) {
      throw tooLarge(tally, nb, longs, "at most half of the JVM's maximum heap of " + heap + " bytes (raise -Xmx)");
    }
    try {
      this.words = new long[(int) longs];
    } catch (OutOfMemoryError e) {
      throw tooLarge(tally, nb, longs, "memory the JVM can allocate after a collection (raise -Xmx)");
    }
    this.width = width;
    this.clusterBits = clusterBits;
    this.fileSize = fileSize;
    this.tally = tally;
    this.clusters = nb;
  }

  private static IOException tooLarge(CheckTally tally, long clusters, long longs, String expected) {
    tally.checkErrors++;
    return Qcow2Errors.unsupported("memory for the reference counts of " + clusters + " clusters", longs * 8 + " bytes",
        expected);
  }

  /** Clusters counted: those of the file, plus one if a reference reached past its end. */
  long clusters() {
    return clusters;
  }

  /** The count of cluster {@code k} (unsigned), 0 past {@link #clusters()}. */
  long get(long k) {
    if (k < 0 || k >= clusters) {
      return 0;
    }
    int perWordBits = 6 - width.order();
    int shift = (int) (k & ((1L << perWordBits) - 1)) << width.order();
    return (words[(int) (k >>> perWordBits)] >>> shift) & width.max();
  }

  /**
   * Adds one reference to every cluster that {@code [offset, offset + size)} touches, like QEMU's
   * {@code qcow2_inc_refcounts_imrt}: a range reaching a cluster or more past the end of the file is a corruption
   * and counts nothing; a count already at the refcount maximum is a corruption and stays there.
   *
   * @throws IOException a range no file can have (a negative offset): the check cannot go on
   */
  void add(long offset, long size) throws IOException {
    if (size <= 0) {
      return;
    }
    if (offset < 0 || offset > Long.MAX_VALUE - size) {
      tally.checkErrors++;
      throw Qcow2Errors.invalid("reference to offset", Long.toUnsignedString(offset) + " size " + size,
          "a range inside the image file (Cannot allocate memory)");
    }
    if (offset + size - fileSize >= 1L << clusterBits) {
      tally.corruption("ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x"
          + CheckTally.hex(offset) + " size 0x" + CheckTally.hex(size));
      return;
    }
    long first = offset >>> clusterBits;
    long last = (offset + size - 1) >>> clusterBits;
    for (long k = first; k <= last; k++) {
      if (k >= clusters) {
        clusters = k + 1;
      }
      long count = get(k);
      if (count == width.max()) {
        tally.corruption("ERROR: overflow cluster offset=0x" + CheckTally.hex(k << clusterBits));
        tally.note("Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing");
        continue;
      }
      set(k, count + 1);
    }
  }

  /**
   * Makes room for {@code n} clusters, counting 0 each beyond the current ones: a rebuild of the refcount
   * structures allocates its clusters here, past the end of the file if need be (the memory bound grows by them).
   */
  void ensure(long n) {
    if (n <= clusters) {
      return;
    }
    long longs = Math.ceilDiv(n + 1, 64L >> width.order());
    if (longs > words.length) {
      words = Arrays.copyOf(words, Math.toIntExact(Math.max(longs, words.length + (words.length >> 1))));
    }
    clusters = n;
  }

  /** Sets the count of cluster {@code k}, which must be below {@link #clusters()}. */
  void set(long k, long value) {
    int perWordBits = 6 - width.order();
    int shift = (int) (k & ((1L << perWordBits) - 1)) << width.order();
    int w = (int) (k >>> perWordBits);
    words[w] = (words[w] & ~(width.max() << shift)) | (value << shift);
  }
}
