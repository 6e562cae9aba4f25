package dev.vdisk.format.raw;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.FormatFacts;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * A raw image: every verb passes to the file unchanged. When the format was probed rather than named,
 * writes that would make the first sector look like another format are refused, so a guest cannot turn
 * its disk into, say, a qcow2 image pointing at a host file (QEMU's rule for probed raw images).
 *
 * <p>A shrink is drained ({@link ShrinkDrain}): the verbs that change the file are counted while they run, and check
 * their range again once counted, so a request that passed the guard's check under the old size either lands before
 * the file is cut or is refused as the guard refuses it (ENOSPC for writes and zeroes, EINVAL for discards).
 */
final class RawImage extends FilterDevice implements FormatImage {
  private static final int SECTOR = 512;
  private final boolean probed;
  private final RawFormat format;
  private final ShrinkDrain drain = new ShrinkDrain();

  RawImage(BlockDevice file, boolean probed, RawFormat format) {
    super(file);
    this.probed = probed;
    this.format = format;
  }

  @Override
  public ImageFormat format() {
    return format;
  }

  /** A raw image has no facts beyond its bytes. */
  @Override
  public FormatFacts facts() {
    return FormatFacts.none();
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    if (checksSector(offset, src)) {
      checkSectorZero(offset, src);
    }
    enter("write", offset, src.remaining());
    try {
      next.write(offset, src, flags);
    } finally {
      drain.exit();
    }
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    enter("writeZeroes", offset, length);
    try {
      next.writeZeroes(offset, length, flags);
    } finally {
      drain.exit();
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    enter("discard", offset, length);
    try {
      next.discard(offset, length);
    } finally {
      drain.exit();
    }
  }

  /** See {@link ShrinkDrain#resize}. */
  @Override
  public void resize(long newSize) throws IOException {
    drain.resize(next, newSize);
  }

  /**
   * qemu-img resize --preallocation, as QEMU's file driver grows a raw image in a host file: FALLOC reserves the new
   * blocks (or writes them, where the file system cannot reserve), FULL writes zeroes.
   *
   * @throws IllegalArgumentException with QEMU's message for METADATA; for an image not in a host file
   */
  @Override
  public void growPreallocated(long newSize, Preallocation mode) throws IOException {
    if (!(next instanceof FileDevice file)) {
      throw new IllegalArgumentException("preallocation: " + mode.spelling() + " on a raw image (expected: off; a "
          + "preallocated resize is built for qcow2 images and raw images in host files)");
    }
    if (mode == Preallocation.METADATA) {
      throw new IllegalArgumentException("Unsupported preallocation mode: metadata");
    }
    long old = size();
    resize(newSize);
    file.preallocate(old, newSize - old, mode);
  }

  /** Counts a request that changes the file in ({@link ShrinkDrain#enter}), then checks its range ({@link #inside}). */
  private void enter(String op, long offset, long length) throws IOException {
    drain.enter();
    try {
      inside(op, offset, length);
    } catch (IOException e) {
      drain.exit();
      throw e;
    }
  }

  /**
   * Refuses a request past the end as the guard does: it passed the guard's check before a shrink changed the size.
   * Called once the request is counted in the drain, so no shrink can change the size until it is done.
   */
  void inside(String op, long offset, long length) throws IOException {
    long size = next.size();
    if (offset > size || length > size - offset) {
      throw new BlockDeviceException(op.equals("discard") ? BlockError.EINVAL : BlockError.ENOSPC, op + ": offset "
          + offset + " length " + length + " ends beyond the image (expected: end <= size " + size + ", which a"
          + " shrink set while the request was on its way)");
    }
  }

  /**
   * The file's asynchronous queue, its writes counted in the shrink's drain ({@link DrainedQueue}); a probed image's
   * writes to the first sector run through {@link #write} and its check.
   */
  @Override
  public RequestQueue queue(int depth) throws IOException {
    RequestQueue below = next.queue(depth);
    return below == null ? null : new DrainedQueue(below, this, drain);
  }

  /** Whether {@link #write} checks this write: a probed image's write to its first sector. */
  boolean checksSector(long offset, ByteBuffer src) {
    return probed && offset < SECTOR && src.hasRemaining();
  }

  private void checkSectorZero(long offset, ByteBuffer src) throws IOException {
    ByteBuffer sector = ByteBuffer.allocate((int) Math.min(SECTOR, next.size()));
    next.read(0, sector);
    int n = (int) Math.min(src.remaining(), sector.capacity() - offset);
    sector.put((int) offset, src, src.position(), n);
    if (RawFormat.looksLikeAnotherFormat(sector.clear())) {
      throw new BlockDeviceException(BlockError.EPERM,
          "write: would make the first sector of a probed raw image look like another format (expected: name the format with -f raw to allow this write)");
    }
  }

  /** A raw image's bytes are its file's: the file's ranges, unchanged. */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    return next.hostRanges(offset, length);
  }

  /** The file's copy, except into the first sector of a probed image, whose bytes {@link #write} must check. */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    if (probed && offset < SECTOR) {
      return false;
    }
    enter("write", offset, src.length());
    try {
      return next.writeFrom(offset, src);
    } finally {
      drain.exit();
    }
  }

  @Override
  public String toString() {
    return "Raw(" + next + ")";
  }
}
