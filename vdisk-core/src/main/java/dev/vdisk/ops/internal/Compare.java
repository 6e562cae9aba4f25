package dev.vdisk.ops.internal;

import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Compares two devices the way {@code qemu-img compare} does (its {@code img_compare}), with the same verdicts
 * and offsets.
 *
 * <ul>
 *   <li>Both are walked by {@link ChainWalker} through their backing chains; ranges that both say read as
 *       zeroes are never read. Where exactly one of them allocates a range, only that one is read and must
 *       read as zeroes. Reads are at most {@link #CHUNK} bytes.
 *   <li>A difference is reported at the start of the first differing 512-byte sector, as qemu-img reports it.
 *   <li>Non-strict: allocated zeroes equal unallocated ranges, and when the sizes differ the longer device's
 *       tail must read as zeroes (with qemu-img's warning).
 *   <li>Strict: different sizes, or different status bits at any offset, are differences.
 * </ul>
 */
public final class Compare {
  /** qemu-img's IO_BUF_SIZE. */
  static final int CHUNK = 2 << 20;
  private static final int SECTOR = 512;
  private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(CHUNK).asReadOnlyBuffer();

  private final Named a;
  private final Named b;
  private final Progress progress;
  private final ByteBuffer bufA = DirectBuffers.aligned(CHUNK);
  private final ByteBuffer bufB = DirectBuffers.aligned(CHUNK);
  private long total;
  private boolean sizeWarning;

  private Compare(Named a, Named b, Progress progress) {
    this.a = a;
    this.b = b;
    this.progress = progress;
  }

  /**
   * Compares {@code a} with {@code b}.
   *
   * @param strict qemu-img compare's {@code -s}
   * @param progress units are bytes of the longer device
   * @throws CompareException when a status query or a read fails
   */
  public static CompareResult run(Named a, Named b, boolean strict, Progress progress) throws IOException {
    return new Compare(a, b, progress).compare(strict);
  }

  private CompareResult compare(boolean strict) throws IOException {
    long sizeA = a.device().size();
    long sizeB = b.device().size();
    long common = Math.min(sizeA, sizeB);
    total = Math.max(sizeA, sizeB);
    progress.update(0, total);
    if (strict && sizeA != sizeB) {
      return new CompareResult(CompareResult.Verdict.SIZE_MISMATCH, -1, false);
    }
    ChainWalker walkA = walker(a);
    ChainWalker walkB = walker(b);
    long offset = 0;
    while (offset < common) {
      BlockStatus sa = status(a, walkA, offset);
      BlockStatus sb = status(b, walkB, offset);
      long chunk = Math.min(sa.length(), sb.length());
      if (strict && !sa.sameBits(sb)) {
        return new CompareResult(CompareResult.Verdict.STATUS_MISMATCH, offset, false);
      }
      if (!(sa.zero() && sb.zero())) {
        chunk = Math.min(chunk, CHUNK);
        long mismatch;
        if (sa.allocated() == sb.allocated()) {
          mismatch = sa.allocated() ? differingSector(offset, (int) chunk) : -1;
        } else {
          mismatch = nonZeroSector(sa.allocated() ? a : b, offset, (int) chunk);
        }
        if (mismatch >= 0) {
          return new CompareResult(CompareResult.Verdict.CONTENT_MISMATCH, mismatch, false);
        }
      }
      offset += chunk;
      progress.update(offset, total);
    }
    if (sizeA != sizeB) {
      sizeWarning = true;
      Named over = sizeA > sizeB ? a : b;
      ChainWalker walkOver = sizeA > sizeB ? walkA : walkB;
      while (offset < total) {
        BlockStatus s = status(over, walkOver, offset);
        long chunk = s.length();
        if (s.allocated() && !s.zero()) {
          chunk = Math.min(chunk, CHUNK);
          long mismatch = nonZeroSector(over, offset, (int) chunk);
          if (mismatch >= 0) {
            return new CompareResult(CompareResult.Verdict.CONTENT_MISMATCH, mismatch, true);
          }
        }
        offset += chunk;
        progress.update(offset, total);
      }
    }
    return new CompareResult(CompareResult.Verdict.IDENTICAL, -1, sizeWarning);
  }

  private ChainWalker walker(Named image) throws CompareException {
    try {
      return ChainWalker.of(image.device(), ChainWalker.Mode.ABOVE);
    } catch (IOException e) {
      throw statusFailed(image, e);
    }
  }

  private BlockStatus status(Named image, ChainWalker walker, long offset) throws CompareException {
    try {
      return walker.at(offset);
    } catch (IOException e) {
      throw statusFailed(image, e);
    }
  }

  private CompareException statusFailed(Named image, IOException e) {
    return new CompareException(CompareException.Stage.STATUS, "Sector allocation test failed for " + image.name()
        + ": " + e.getMessage(), sizeWarning, e);
  }

  /** qemu-img's compare_buffers: the start of the first differing sector of both devices' chunk, or -1. */
  private long differingSector(long offset, int length) throws CompareException {
    read(a, offset, bufA.clear().limit(length));
    read(b, offset, bufB.clear().limit(length));
    int m = bufA.flip().mismatch(bufB.flip());
    return m < 0 ? -1 : offset + (long) m / SECTOR * SECTOR;
  }

  /** qemu-img's check_empty_sectors: the start of the first sector of the chunk that is not zero, or -1. */
  private long nonZeroSector(Named image, long offset, int length) throws CompareException {
    read(image, offset, bufA.clear().limit(length));
    int m = bufA.flip().mismatch(ZEROES.duplicate().limit(length));
    return m < 0 ? -1 : offset + (long) m / SECTOR * SECTOR;
  }

  private void read(Named image, long offset, ByteBuffer dst) throws CompareException {
    try {
      image.device().read(offset, dst);
    } catch (IOException e) {
      throw new CompareException(CompareException.Stage.READ, "Error while reading offset " + offset + " of "
          + image.name() + ": " + e.getMessage(), sizeWarning, e);
    }
  }
}
