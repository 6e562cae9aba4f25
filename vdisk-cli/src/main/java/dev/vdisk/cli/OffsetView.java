package dev.vdisk.cli;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * {@code vdisk serve -o OFFSET}: the part of an image from {@code offset} to its end, as qemu-nbd's {@code -o}
 * exposes it (a partition inside a disk image). Offsets are shifted, nothing else changes.
 *
 * <p>Deliberately not a {@code FilterDevice}: lookups that see through filters to the format (a qcow2 image's
 * backing chain, its dirty bitmaps) would answer in unshifted offsets, so this view hides what is below. The
 * caller therefore refuses {@code -o} on images with a backing file and with {@code -B}, where that would matter.
 */
final class OffsetView implements BlockDevice {
  private final BlockDevice next;
  private final long offset;

  /**
   * @param next an unguarded stack (the caller puts a guard on top, which validates every range against
   *     {@link #size()})
   * @param offset where the view starts in {@code next}, at most its size and a multiple of its request alignment
   */
  OffsetView(BlockDevice next, long offset) throws IOException {
    if (offset < 0 || offset > next.size()) {
      throw new CliException("Offset (" + offset + ") can't exceed device size (" + next.size() + ")");
    }
    if (offset % next.limits().requestAlignment() != 0) {
      throw new CliException("-o/--offset: " + offset + " (expected: a multiple of " + next.limits().requestAlignment() + ")");
    }
    this.next = next;
    this.offset = offset;
  }

  @Override
  public long size() throws IOException {
    return next.size() - offset;
  }

  @Override
  public Capabilities capabilities() {
    return next.capabilities();
  }

  @Override
  public BlockLimits limits() {
    return next.limits();
  }

  @Override
  public void read(long at, ByteBuffer dst) throws IOException {
    next.read(at + offset, dst);
  }

  @Override
  public void write(long at, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    next.write(at + offset, src, flags);
  }

  @Override
  public void flush() throws IOException {
    next.flush();
  }

  @Override
  public void discard(long at, long length) throws IOException {
    next.discard(at + offset, length);
  }

  @Override
  public void writeZeroes(long at, long length, Set<WriteFlag> flags) throws IOException {
    next.writeZeroes(at + offset, length, flags);
  }

  @Override
  public List<Extent> extents(long at, long length) throws IOException {
    return next.extents(at + offset, length).stream()
        .map(e -> new Extent(e.offset() - offset, e.length(), e.present(), e.zero(), e.data(), e.hostOffset())).toList();
  }

  @Override
  public void close() throws IOException {
    next.close();
  }

  @Override
  public String toString() {
    return "Offset[" + offset + "](" + next + ")";
  }
}
