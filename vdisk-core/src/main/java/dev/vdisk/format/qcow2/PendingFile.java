package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.io.Preallocation;
import dev.vdisk.io.FileDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * The bytes a new qcow2 file will hold, built in memory and then written with few large writes: the metadata
 * clusters written so far (whole clusters, zero-filled where nothing was put), the file length QEMU's writes
 * and truncations would leave, and the ranges to preallocate. Data clusters are never held here.
 *
 * <p>Memory: one buffer per metadata cluster touched. Not thread-safe.
 */
final class PendingFile {
  /** Largest single write when the clusters are written out. */
  private static final int MAX_WRITE = 8 << 20;

  private record Range(long offset, long length, Preallocation mode) {}

  /** One cluster's buffer and the part of it that was written ({@code lo >= hi}: none yet). */
  private static final class Page {
    final ByteBuffer buffer;
    int lo = Integer.MAX_VALUE;
    int hi;

    Page(int size) {
      buffer = ByteBuffer.allocate(size);
    }
  }

  private final int clusterBits;
  private final TreeMap<Long, Page> pages = new TreeMap<>();
  private final List<Range> preallocated = new ArrayList<>();
  private long length;

  PendingFile(int clusterBits) {
    this.clusterBits = clusterBits;
  }

  int clusterSize() {
    return 1 << clusterBits;
  }

  /** The file length so far. */
  long length() {
    return length;
  }

  /**
   * The live buffer of the cluster at {@code offset} (cluster aligned), zero-filled when new. Changing it changes
   * what will be written, but only the parts recorded with {@link #wrote} are written out.
   */
  ByteBuffer cluster(long offset) {
    return page(offset >>> clusterBits).buffer;
  }

  private Page page(long index) {
    return pages.computeIfAbsent(index, k -> new Page(clusterSize()));
  }

  /** Records a write of {@code length} bytes at {@code offset}: those bytes are written out and the file covers them. */
  void wrote(long offset, long length) {
    long end = offset + length;
    for (long c = offset & -clusterSize(); c < end; c += clusterSize()) {
      Page p = page(c >>> clusterBits);
      p.lo = (int) Math.min(p.lo, Math.max(offset, c) - c);
      p.hi = (int) Math.max(p.hi, Math.min(end, c + clusterSize()) - c);
    }
    this.length = Math.max(this.length, end);
  }

  /** Sets the file length, as an ftruncate would (only growing is needed when creating). */
  void truncate(long newLength) {
    length = Math.max(length, newLength);
  }

  /** Grows the file to {@code newLength}, reserving (falloc) or zero-writing (full) the new part. */
  void grow(long newLength, Preallocation mode) {
    if (newLength > length && (mode == Preallocation.FALLOC || mode == Preallocation.FULL)) {
      preallocated.add(new Range(length, newLength - length, mode));
    }
    truncate(newLength);
  }

  /**
   * Writes everything to {@code file}: grows it to the length, preallocates the ranges, then writes the written
   * parts of the clusters in offset order, adjacent ones joined into writes of up to 8 MiB. The file is never shrunk.
   */
  void writeTo(FileDevice file) throws IOException {
    if (length > file.size()) {
      file.resize(length);
    }
    for (Range r : preallocated) {
      file.preallocate(r.offset(), r.length(), r.mode());
    }
    writePages(file, false);
  }

  /**
   * Writes every cluster that was written at all, whole (zeroes around the written part included), to a device
   * that keeps its size and may hold old bytes. Preallocated ranges are not written.
   */
  void writeWholeClustersTo(BlockDevice device) throws IOException {
    writePages(device, true);
  }

  private void writePages(BlockDevice file, boolean whole) throws IOException {
    ByteBuffer run = ByteBuffer.allocate((int) Math.min(MAX_WRITE, Math.max(clusterSize(), pages.size() * (long) clusterSize())));
    long runStart = -1;
    for (var e : pages.entrySet()) {
      Page p = e.getValue();
      if (p.lo >= p.hi) {
        continue;
      }
      int lo = whole ? 0 : p.lo;
      int hi = whole ? (int) Math.min(clusterSize(), length - (e.getKey() << clusterBits)) : p.hi;
      long at = (e.getKey() << clusterBits) + lo;
      int n = hi - lo;
      if (runStart >= 0 && (runStart + run.position() != at || run.remaining() < n)) {
        file.write(runStart, run.flip(), Set.of());
        run.clear();
        runStart = -1;
      }
      if (runStart < 0) {
        runStart = at;
      }
      run.put(p.buffer.duplicate().clear().position(lo).limit(hi));
    }
    if (runStart >= 0) {
      file.write(runStart, run.flip(), Set.of());
    }
  }
}
