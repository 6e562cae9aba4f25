package dev.vdisk.io;

import dev.vdisk.io.linux.FileIo;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The data path of a writable regular file under {@code cache=writethrough}: reads, and writes that are not aligned to
 * the file system's block, go through the page cache as in {@link BufferedPath}; aligned writes go through an
 * O_DIRECT descriptor of the same file.
 *
 * <p><b>Why.</b> Under writethrough every write waits for an fdatasync, so a buffered write buys nothing from the
 * cache but costs the kernel's work on the page holding it, which grows with the page cache's folio: on a file just
 * written with large writes (an image made with {@code preallocation=full}, copied or converted) the cache holds 1 MiB
 * folios, and ext4 (Linux 6.18) walks the folio's 256 block buffers on each 4 KiB write ({@code
 * ext4_block_write_begin}, half of all CPU) and again at write-back; concurrent fdatasyncs then wait for each other's
 * folios. 4 KiB writes at depth 16 took three times the CPU of the same writes on a file whose cache holds 4 KiB
 * pages. A direct write skips the page cache, and costs the same whatever the cache holds.
 *
 * <p><b>Coherence.</b> Linux keeps the page cache coherent with a direct write: it writes back and drops the cached
 * pages of the written range before the write and drops them again after it, so a later read through the cache reads
 * the new bytes from the disk (the cache keeps serving reads; bytes just written are not in it until read). Where the
 * kernel cannot drop a page it finishes the write through the cache itself. A direct write and a buffered one to the
 * same block at the same time must not interleave (the buffered one's page, read before the direct write reached the
 * disk, written back over it): ext4 and XFS order them by the inode lock (a buffered write holds it exclusively, an
 * aligned direct overwrite shared), and for a file system that does not, an unaligned write registers its
 * block-aligned range as serialising ({@link RequestSerializer}, as in {@link DirectPath}): it waits for earlier
 * overlapping writes, and later ones wait for it.
 *
 * <p><b>Durability and errors.</b> A direct write reports its own failure, and the device's flush (fdatasync, which
 * also flushes the disk's cache and commits the metadata of an allocating write) stays what acknowledges it, as for a
 * buffered write; unaligned writes are still written back from the page cache, and {@link WritebackErrors} watches
 * them as before.
 */
final class WritethroughPath implements DataPath {
  private final BufferedPath cached;
  private final DirectPath direct;
  private final RequestSerializer serializer;
  private final int align;

  /**
   * @param cached the page-cache data path, for reads and unaligned writes
   * @param direct an O_DIRECT descriptor of the same file, for aligned writes; closed by the device
   * @param align the file system's block size, a power of two
   */
  WritethroughPath(FileIo cached, FileIo direct, int align) {
    this.cached = new BufferedPath(cached, false);
    this.serializer = new RequestSerializer();
    this.direct = new DirectPath(direct, align, Long.MAX_VALUE, end -> { }, serializer);
    this.align = align;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    cached.read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    int len = src.remaining();
    if (aligned(offset) && aligned(len)) {
      direct.write(offset, src); // aligned: one direct write, bounced only from a misaligned direct buffer
      return;
    }
    long end = offset + len;
    RequestSerializer.Request r = serializer.begin(offset & -align, (end + align - 1) & -align, true);
    try {
      cached.write(offset, src);
    } finally {
      serializer.end(r);
    }
  }

  /** Ordered against writes as {@link DirectPath#mutate} orders it. */
  @Override
  public boolean mutate(long offset, long length, Mutation change) throws IOException {
    return direct.mutate(offset, length, change);
  }

  private boolean aligned(long value) {
    return (value & (align - 1)) == 0;
  }
}
