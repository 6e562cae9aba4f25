package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Geometry.roundUp;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * The data writes of a writable image ({@link Qcow2Writer}): in place where the image owns the clusters, else into
 * newly allocated clusters with copy-on-write of the untouched part of each new (sub)cluster (in the same host
 * write), and compressed clusters. Data is written before the L2 entries that expose it change in memory.
 *
 * <p><b>Allocation</b> follows QEMU 7.2 so that {@code qemu-img map} of an image vdisk wrote equals that of one
 * QEMU wrote: with extended L2 entries only the subclusters a write touches are allocated (and only their partly
 * written ones copied); zeroes and discards set whole (sub)clusters as QEMU sets them. With an external data file
 * every guest cluster lives at its own offset there: no refcounts, and released clusters are discarded in the
 * data file at once (a raw data file is zeroed along with the image, so it reads as the guest disk).
 */
final class AllocatingWriter {
  private final BlockDevice file;
  private final BlockDevice data;
  private final boolean dataFile;
  /** Data goes through an {@link EncryptingDevice}: zeroes past the end of the file must be written too. */
  private final boolean encrypted;
  private final Geometry geometry;
  private final L1Table l1;
  private final L2Cache l2;
  private final RefcountStore refcounts;
  private final ClusterEntries entries;
  private final MetadataWriteBack writeBack;
  private final Qcow2Writer.GuestReader current;
  private final Qcow2Writer.ZeroStatus zeroStatus;
  private final InFlightAllocations inFlight;

  /**
   * @param data where guest clusters live: {@code file}, or the external data file
   * @param current reads the image's guest bytes (for copy-on-write), without taking the writer's shared lock
   * @param zeroStatus block status of the image's guest bytes, without taking the writer's shared lock
   */
  AllocatingWriter(BlockDevice file, BlockDevice data, Geometry geometry, L1Table l1, L2Cache l2,
      RefcountStore refcounts, ClusterEntries entries, MetadataWriteBack writeBack, Qcow2Writer.GuestReader current,
      Qcow2Writer.ZeroStatus zeroStatus, InFlightAllocations inFlight) {
    this.file = file;
    this.data = data;
    this.dataFile = EncryptingDevice.external(file, data);
    this.encrypted = data instanceof EncryptingDevice;
    this.geometry = geometry;
    this.l1 = l1;
    this.l2 = l2;
    this.refcounts = refcounts;
    this.entries = entries;
    this.writeBack = writeBack;
    this.current = current;
    this.zeroStatus = zeroStatus;
    this.inFlight = inFlight;
  }

  /**
   * Writes {@code src} where it already lives, if every cluster it touches is owned and allocated; else false.
   *
   * <p>Each cluster's host offset is looked up once, and the write goes there even if a discard or a zeroing (which
   * change L2 entries under the metadata lock only) changes the entry meanwhile: the cluster is not released while
   * this request holds the writer's shared lock, so the outcome is this write's followed by that change's, which is as
   * correct for overlapping requests as the other order. Looking it up again could find it unallocated. (A raw data
   * file, which a zeroing zeroes too, would show the late write where the image shows zeroes: there a zeroing or
   * discard excludes this request instead, {@link Qcow2Writer#zeroingExcludesOverwrites}.)
   *
   * <p>Why the host cluster cannot meanwhile hold another guest offset's data: a discard, a zeroing or a shrink
   * that drops the entry only records the release ({@link RefcountStore#free}); the cluster becomes allocatable
   * again only in {@link MetadataWriteBack}'s applyFrees, which takes the exclusive side of the shared lock this
   * request holds (a queue's request: which counts it in {@link Qcow2Writer#queued()}, and applyFrees waits for
   * none in flight). What is given back at once ({@link RefcountStore#unallocate}) is only what no entry ever
   * pointed at (a failed run's data clusters; its unused new L2 table, which an L1 entry named, under the exclusive
   * lock, {@link ClusterEntries#dropNewTable}). Internal snapshots are created, applied and
   * deleted only on an image nothing else has open ({@link InternalSnapshots}: the file's write lock), so COPIED
   * does not go away under an open image. With an external data file a released cluster is discarded there at once,
   * but every guest cluster has its own place there, so a late write lands only where its own guest cluster lives,
   * hidden until that cluster is allocated again by a write that copies whole (sub)clusters over it.
   */
  boolean writeInPlace(long offset, ByteBuffer src) throws IOException {
    long end = offset + src.remaining();
    if (end <= geometry.clusterEnd(offset)) {
      // The usual request, inside one cluster: one write, without the array and slice of the general case.
      long host = ownedHost(offset, end);
      if (host < 0) {
        return false;
      }
      int at = src.position();
      data.write(host, src, Set.of());
      src.position(at + (int) (end - offset));
      return true;
    }
    long[] hosts = new long[(int) ((geometry.clusterEnd(end - 1) - (offset & ~geometry.clusterMask())) >>> geometry.clusterBits())];
    long pos = offset;
    for (int k = 0; k < hosts.length; k++) {
      long to = Math.min(end, geometry.clusterEnd(pos));
      hosts[k] = ownedHost(pos, to);
      if (hosts[k] < 0) {
        return false;
      }
      pos = to;
    }
    pos = offset;
    for (int k = 0; k < hosts.length; ) {
      long host = hosts[k];
      long runEnd = Math.min(end, geometry.clusterEnd(pos));
      k++;
      // Neighbouring clusters that are neighbours on the host too go out in one write.
      while (k < hosts.length && hosts[k] == host + (runEnd - pos)) {
        runEnd = Math.min(end, geometry.clusterEnd(runEnd));
        k++;
      }
      int n = (int) (runEnd - pos);
      data.write(host, src.slice(src.position(), n), Set.of());
      src.position(src.position() + n);
      pos = runEnd;
    }
    return true;
  }

  /** See {@link Qcow2Writer#overwriteHost}. */
  long overwriteHost(long offset, int length) throws IOException {
    if (length <= 0) {
      return -1;
    }
    long end = offset + length;
    long host = ownedHost(offset, Math.min(end, geometry.clusterEnd(offset)));
    for (long pos = geometry.clusterEnd(offset); pos < end && host >= 0; pos += geometry.clusterSize()) {
      if (ownedHost(pos, Math.min(end, geometry.clusterEnd(pos))) != host + (pos - offset)) {
        return -1;
      }
    }
    return host;
  }

  /**
   * The host offset of guest byte {@code from} if the image alone owns the cluster and stores every byte of
   * {@code [from, to)} (which lie in one cluster) there; else -1.
   */
  private long ownedHost(long from, long to) throws IOException {
    long l2Offset = l1.l2Offset(geometry.l1Index(from));
    if (l2Offset == 0) {
      return -1;
    }
    // Possibly a copy a reader's miss evicts right after: clean, it holds the entry as it was before any later
    // change (which goes to the cached copy, L2Cache.writable), an answer as good as reading before that change.
    long[] table = l2.get(l2Offset);
    long word;
    long bitmap = 0;
    if (geometry.extendedL2()) {
      synchronized (table) { // the entry's two words as one writer left them (ClusterEntries.setEntry)
        word = L2Cache.word(table, geometry.entryIndex(from));
        bitmap = entries.bitmap(table, from);
      }
    } else {
      word = L2Cache.word(table, geometry.entryIndex(from));
    }
    if ((word & Geometry.COPIED) == 0 || entries.kind(word) != L2Kind.NORMAL) {
      return -1;
    }
    if (geometry.extendedL2()) {
      long wanted = Geometry.allocRange(geometry.subcluster(from), geometry.subcluster(to - 1) + 1);
      if ((bitmap & wanted) != wanted) {
        return -1;
      }
    }
    return (word & Geometry.OFFSET_MASK) + (from & geometry.clusterMask());
  }

  /**
   * Writes {@code src} at {@code offset} where the fast path could not, as QEMU 7.2 does ({@code handle_copied},
   * {@code handle_alloc}, {@code calculate_l2_meta}): per L2 table, runs of clusters the image owns (kept, written in
   * place) and runs that need new clusters. Each run is one host write: the new bytes and, around them, the
   * copy-on-write of only what the new bytes do not cover but the written (sub)clusters must hold. The whole write
   * runs under the metadata lock: for zeroes written as data and resizes, which hold it anyway; guest writes go
   * through {@link Qcow2Writer#write}, which writes each run's data without the lock.
   */
  void writeLocked(long offset, ByteBuffer src) throws IOException {
    long end = offset + src.remaining();
    long pos = offset;
    while (pos < end) {
      Run run = plan(pos, end, src);
      try {
        writeData(run);
      } catch (IOException e) {
        abort(run);
        throw e;
      }
      publish(run);
      pos = run.writeEnd;
    }
  }

  /**
   * One run of a write (QEMU's {@code QCowL2Meta}): guest bytes {@code [pos, writeEnd)} within one L2 table, their host
   * clusters chosen by {@link #plan}, the host write {@code [host + cowStartFrom, host + cowEndTo)} made by {@link
   * #writeData}, the entries set by {@link #publish} (or the allocation given back by {@link #abort}).
   */
  static final class Run {
    private final long pos;
    private final long writeEnd;
    private final long runStart;
    private final long runEnd;
    private final int clusters;
    private final boolean keep;
    /** Every subcluster written holds data already: no copy-on-write, no entry changes. */
    private final boolean inPlace;
    private final long host;
    private final long cowStartFrom;
    private final long cowEndTo;
    /** The run's new bytes, a slice of the caller's buffer. */
    private final ByteBuffer bytes;
    private final long l1Index;
    private final long tableOffset;
    /** The plan made the L2 table: an abort may drop it again. */
    private final boolean newTable;
    /**
     * The new clusters' host write starts at or past the end of the data file as the plan found it: nothing else
     * writes there (the clusters are this run's), so it reads as zeroes until this run writes it.
     */
    private final boolean pastEnd;
    /** Where the data file must end, if {@link #writeData} left the copy-on-write zeroes past its end unwritten. */
    private long dataEnd;

    private Run(long pos, long writeEnd, long runStart, long runEnd, int clusters, boolean keep, boolean inPlace,
        long host, long cowStartFrom, long cowEndTo, ByteBuffer bytes, long l1Index, long tableOffset, boolean newTable,
        boolean pastEnd) {
      this.pos = pos;
      this.writeEnd = writeEnd;
      this.runStart = runStart;
      this.runEnd = runEnd;
      this.clusters = clusters;
      this.keep = keep;
      this.inPlace = inPlace;
      this.host = host;
      this.cowStartFrom = cowStartFrom;
      this.cowEndTo = cowEndTo;
      this.bytes = bytes;
      this.l1Index = l1Index;
      this.tableOffset = tableOffset;
      this.newTable = newTable;
      this.pastEnd = pastEnd;
    }

    /** Where the run's guest bytes end: the next run starts there. */
    long writeEnd() {
      return writeEnd;
    }

    /** The run's whole guest clusters: what must not change under it from its plan to its publication. */
    long clusterStart() {
      return runStart;
    }

    long clusterEnd() {
      return runEnd;
    }

    /** False for a plain overwrite of data the image owns: nothing to publish, nothing to give back. */
    boolean changesEntries() {
      return !inPlace;
    }
  }

  /** Where the run of a write at {@code pos} (ending at {@code end}) must end at the latest: its L2 table's end. */
  long runLimit(long pos, long end) {
    return Math.min(end, (pos | (geometry.bytesPerL2() - 1)) + 1);
  }

  /**
   * Plans the run of a write that starts at {@code pos}, taking its new bytes from {@code src}: makes its L2 table
   * writable (QEMU takes the table first, so a new table comes before the data clusters in the file), finds how far
   * the run reaches, what it must copy, and allocates its host clusters. Changes no entry. Under the metadata lock.
   */
  Run plan(long pos, long end, ByteBuffer src) throws IOException {
    long stop = runLimit(pos, end);
    long l1Index = geometry.l1Index(pos);
    boolean newTable = l1.l2Offset(l1Index) == 0;
    long tableOffset = entries.writableTable(l1Index);
    long[] table = l2.get(tableOffset);
    long first = L2Cache.word(table, geometry.entryIndex(pos));
    boolean keep = !entries.needsNewAlloc(first);
    long runEnd = geometry.clusterEnd(pos);
    long nextHost = (first & Geometry.OFFSET_MASK) + geometry.clusterSize();
    while (runEnd < stop) {
      long w = L2Cache.word(table, geometry.entryIndex(runEnd));
      if (entries.needsNewAlloc(w) == keep || keep && (w & Geometry.OFFSET_MASK) != nextHost) {
        break;
      }
      runEnd = geometry.clusterEnd(runEnd);
      nextHost += geometry.clusterSize();
    }
    long writeEnd = Math.min(stop, runEnd);
    long runStart = pos & ~geometry.clusterMask();
    long clusterBytes = geometry.clusterEnd(writeEnd - 1) - runStart;
    int clusters = (int) (clusterBytes >>> geometry.clusterBits());
    int n = (int) (writeEnd - pos);
    ByteBuffer bytes = src.slice(src.position(), n);
    src.position(src.position() + n);
    long firstWord = L2Cache.word(table, geometry.entryIndex(pos));
    long cowStartTo = pos - runStart;
    long cowEndFrom = writeEnd - runStart;
    if (keep && allNormal(table, pos, writeEnd)) {
      return new Run(pos, writeEnd, runStart, runStart + clusterBytes, clusters, true, true,
          firstWord & Geometry.OFFSET_MASK, cowStartTo, cowEndFrom, bytes, l1Index, tableOffset, false, false);
    }
    long lastWord = L2Cache.word(table, geometry.entryIndex(writeEnd - 1));
    long cowStartFrom = cowStartFrom(firstWord, entries.bitmap(table, pos), geometry.subcluster(pos), keep, cowStartTo);
    long cowEndTo = cowEndTo(lastWord, entries.bitmap(table, writeEnd - 1), geometry.subcluster(writeEnd - 1), keep, cowEndFrom);
    long host;
    if (keep) {
      host = firstWord & Geometry.OFFSET_MASK;
    } else if (dataFile) {
      host = runStart;
    } else {
      try {
        host = refcounts.allocate(clusters);
      } catch (IOException e) {
        if (newTable) {
          entries.dropNewTable(l1Index, tableOffset);
        }
        throw e;
      }
    }
    // Decided here, in allocation order, not when the data goes out: other runs' writes past the end may finish
    // first, and the file's holes should not depend on which did.
    // Never for an encrypted image: there the file's end and holes do not read as zeroes, so the zeroes are written.
    boolean pastEnd = !keep && !encrypted && host + cowStartFrom >= data.size();
    return new Run(pos, writeEnd, runStart, runStart + clusterBytes, clusters, keep, false, host, cowStartFrom, cowEndTo,
        bytes, l1Index, tableOffset, newTable, pastEnd);
  }

  /**
   * Writes the run's host bytes: the new ones and, around them, the copy-on-write read from the image as it is (the
   * run's entries do not change until it is published). Needs no metadata lock; the caller holds the shared lock,
   * so no cluster this reads or writes is released meanwhile.
   */
  void writeData(Run r) throws IOException {
    int head = (int) (r.pos - r.runStart - r.cowStartFrom);
    int n = r.bytes.remaining();
    long at = r.host + r.cowStartFrom;
    int length = (int) (r.cowEndTo - r.cowStartFrom);
    if (r.pastEnd && (head > 0 || n < length) && zeroStatus.readsAsZero(r.runStart + r.cowStartFrom, head)
        && zeroStatus.readsAsZero(r.writeEnd, length - head - n)) {
      // The copy-on-write parts are zeroes by block status (unallocated without backing data, zero clusters) and
      // would land past the end of the file, where they read as zeroes already: the branch below would read them,
      // find them zero and write only the new bytes. Decided without the cluster-sized buffer, its reads and its
      // comparison, and the caller's buffer goes out as it is.
      data.write(at + head, r.bytes, Set.of());
      r.dataEnd = at + length;
      return;
    }
    ByteBuffer buf;
    if (head == 0 && n == length) {
      // Nothing to copy: the caller's buffer goes out as it is (a direct buffer reaches pwrite without a copy).
      buf = r.bytes;
    } else {
      buf = ByteBuffer.allocate((int) (r.cowEndTo - r.cowStartFrom));
      if (head > 0) {
        current.read(r.runStart + r.cowStartFrom, buf.slice(0, head));
      }
      buf.put(head, r.bytes, 0, n);
      if (head + n < buf.limit()) {
        current.read(r.writeEnd, buf.slice(head + n, buf.limit() - head - n));
      }
    }
    if (r.pastEnd && isZero(buf, 0, head) && isZero(buf, head + n, buf.limit())) {
      // Past the end of the file the copy-on-write parts already read as zeroes: write only the new bytes, and let
      // the file end where QEMU's zeroing of them would (sparse), as qemu-img map looks at the file's holes.
      data.write(at + head, buf.slice(head, n), Set.of());
      r.dataEnd = at + buf.limit();
    } else {
      data.write(at, buf, Set.of());
    }
  }

  /**
   * Points the run's entries at its host clusters, now that its data is written: the (sub)clusters written, copy-on-write
   * included, are allocated; the others keep their state. Under the metadata lock.
   */
  void publish(Run r) throws IOException {
    if (r.dataEnd > 0) {
      writeBack.extendDataTo(r.dataEnd);
    }
    if (r.inPlace) {
      return;
    }
    int step = geometry.wordsPerEntry();
    long[] words = new long[r.clusters * step];
    for (int k = 0; k < r.clusters; k++) {
      words[k * step] = (r.host + ((long) k << geometry.clusterBits())) | Geometry.COPIED;
      if (geometry.extendedL2()) {
        long guest = r.runStart + ((long) k << geometry.clusterBits());
        long from = Math.max(r.cowStartFrom, (long) k << geometry.clusterBits()) - ((long) k << geometry.clusterBits());
        long to = Math.min(r.cowEndTo, (long) (k + 1) << geometry.clusterBits()) - ((long) k << geometry.clusterBits());
        long range = Geometry.allocRange((int) (from >>> geometry.subclusterBits()), (int) ((to - 1) >>> geometry.subclusterBits()) + 1);
        words[k * step + 1] = (entries.entryBitmap(guest) | range) & ~(range << 32);
      }
    }
    // A run lies in one L2 table (plan stops it at the table's end): its entries are set together.
    entries.setEntries(r.runStart, words);
  }

  /**
   * Gives back what the plan of a run whose data write failed took, as QEMU's {@code qcow2_alloc_cluster_abort}: no
   * entry points at its new clusters, so their refcounts drop at once (a full disk leaks nothing, later flushes have
   * nothing of the run's to write); its new L2 table goes too if nothing else went into it since and no write-back
   * has stored the L1 entry naming it (else the table stays, empty, which is consistent). Under the metadata lock,
   * with the run's own in-flight allocation already released.
   */
  void abort(Run r) throws IOException {
    if (!r.keep && !dataFile) {
      refcounts.unallocate(r.host, r.clusters);
    }
    if (r.newTable) {
      dropNewTableIfUnused(r.l1Index, r.tableOffset);
    }
  }

  /**
   * Drops the new L2 table at {@code tableOffset} made for {@code l1Index} by a write that failed, if nothing went
   * into it since and no write-back has stored the L1 entry naming it (else it stays, empty, which is consistent).
   */
  private void dropNewTableIfUnused(long l1Index, long tableOffset) throws IOException {
    if (l1.l2Offset(l1Index) == tableOffset && l1.isDirty(l1Index)
        && !inFlight.anyIn(l1Index * geometry.bytesPerL2(), (l1Index + 1) * geometry.bytesPerL2())
        && isEmpty(l2.get(tableOffset))) {
      entries.dropNewTable(l1Index, tableOffset);
    }
  }

  private static boolean isEmpty(long[] table) {
    for (int i = 0; i < table.length; i++) {
      if (L2Cache.word(table, i) != 0) {
        return false;
      }
    }
    return true;
  }

  /** QEMU's {@code cow_start.offset}: where the run's host write starts, relative to its first cluster. */
  long cowStartFrom(long word, long bitmap, int sc, boolean keep, long cowStartTo) {
    long scStart = (long) sc << geometry.subclusterBits();
    if (keep) {
      return subclusterNormal(word, bitmap, sc) ? cowStartTo : scStart;
    }
    return switch (entries.kind(word)) {
      case COMPRESSED -> 0;
      case NORMAL, ZERO_ALLOC -> geometry.extendedL2()
          ? (long) Math.min(sc, Integer.numberOfTrailingZeros((int) bitmap)) << geometry.subclusterBits()
          : 0;
      case ZERO_PLAIN, UNALLOCATED -> scStart;
    };
  }

  /** QEMU's {@code cow_end} end: where the run's host write ends, relative to its first cluster. */
  long cowEndTo(long word, long bitmap, int sc, boolean keep, long cowEndFrom) {
    if (keep) {
      return subclusterNormal(word, bitmap, sc) ? cowEndFrom : roundUp(cowEndFrom, geometry.subclusterSize());
    }
    long clusterEnd = roundUp(cowEndFrom, geometry.clusterSize());
    return switch (entries.kind(word)) {
      case COMPRESSED -> clusterEnd;
      case NORMAL, ZERO_ALLOC -> geometry.extendedL2()
          ? clusterEnd - ((long) Math.min(Geometry.SUBCLUSTERS - sc - 1, Integer.numberOfLeadingZeros((int) bitmap))
              << geometry.subclusterBits())
          : clusterEnd;
      case ZERO_PLAIN, UNALLOCATED -> roundUp(cowEndFrom, geometry.subclusterSize());
    };
  }

  /** True if every subcluster of {@code [from, to)} (within one L2 table) holds data: QEMU's skip_cow. */
  boolean allNormal(long[] table, long from, long to) {
    for (long pos = from; pos < to; pos = Math.min(to, (pos | (geometry.subclusterSize() - 1)) + 1)) {
      if (!subclusterNormal(L2Cache.word(table, geometry.entryIndex(pos)), entries.bitmap(table, pos), geometry.subcluster(pos))) {
        return false;
      }
    }
    return true;
  }

  /** QEMU's QCOW2_SUBCLUSTER_NORMAL: subcluster {@code sc} of the entry holds data. */
  private boolean subclusterNormal(long word, long bitmap, int sc) {
    return entries.kind(word) == L2Kind.NORMAL && (!geometry.extendedL2() || (bitmap >>> sc & 1) != 0);
  }


  /**
   * Stores the compressed bytes of the cluster at {@code guest} as QEMU's qcow2_alloc_compressed_cluster_offset does:
   * packed byte-wise after earlier compressed clusters ({@link RefcountStore#allocateBytes}), the data written before
   * the L2 entry points at it, the entry a compressed descriptor (host offset, additional 512-byte sectors; an
   * extended L2 bitmap of 0). Like QEMU, refuses (EIO) a cluster that has a host cluster already, compressed or not:
   * compressed clusters are written once, into unallocated or zero clusters. A write that fails (a full disk) gives
   * back what it took, as a failed run does ({@link #abort}): its bytes, and the L2 table it made if still unused.
   *
   * @param data the compressed bytes, fewer than a cluster
   */
  void writeCompressedCluster(long guest, ByteBuffer data) throws IOException {
    if ((entries.entryWord(guest) & Geometry.OFFSET_MASK) != 0) {
      throw new BlockDeviceException(BlockError.EIO, "write: COMPRESSED at guest offset " + guest
          + ": the cluster is allocated already (expected: an unallocated or zero cluster; compressed clusters are"
          + " written once, as in QEMU)");
    }
    long l1Index = geometry.l1Index(guest);
    boolean newTable = l1.l2Offset(l1Index) == 0;
    // The L2 table first, as QEMU allocates it, so that the two lay out files alike.
    long tableOffset = entries.writableTable(l1Index);
    int length = data.remaining();
    long host = -1;
    try {
      host = refcounts.allocateBytes(length);
      if (host + length > 1L << geometry.compressedSizeShift()) {
        throw new BlockDeviceException(BlockError.ENOSPC, "write: COMPRESSED: host offset " + host
            + " is beyond what a compressed descriptor can hold (expected: below " + (1L << geometry.compressedSizeShift()) + ")");
      }
      file.write(host, data, Set.of());
    } catch (IOException e) {
      // Nothing points at the bytes yet: given back now, a full disk leaks nothing and later flushes have nothing of
      // this write's to store.
      if (host >= 0) {
        refcounts.unallocateBytes(host, length);
      }
      if (newTable) {
        dropNewTableIfUnused(l1Index, tableOffset);
      }
      throw e;
    }
    long extraSectors = (host + length - 1) / 512 - host / 512;
    entries.setEntry(guest, host | Geometry.COMPRESSED | extraSectors << geometry.compressedSizeShift(), 0);
    writeBack.flushIfTooDirty();
  }

  private static final ByteBuffer ZEROES = ByteBuffer.allocate(1 << Qcow2Header.MAX_CLUSTER_BITS).asReadOnlyBuffer();

  private static boolean isZero(ByteBuffer b, int from, int to) {
    return from >= to || b.slice(from, to - from).mismatch(ZEROES.slice(0, to - from)) < 0;
  }
}
