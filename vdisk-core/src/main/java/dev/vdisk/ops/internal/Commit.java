package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.Backing;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Set;

/**
 * {@code qemu-img commit}: writes what an image and the images between it and a base define into the base, then
 * (unless told not to) empties the image, as qemu-img does through QEMU's active commit job.
 *
 * <p>The copy is QEMU 7.2's mirror in commit mode: the base's granularity (its cluster size within 4 KiB to 64 KiB;
 * 64 KiB for raw) cuts the disk into chunks, a chunk is dirty if any image above the base defines a byte of it,
 * and runs of dirty chunks (up to 16 MiB) are copied from what the top image reads: data in pieces of at most 1
 * MiB, ranges that read as zeroes as zero writes that may unmap, a zero range shorter than a chunk as data. A base
 * smaller than the image is grown first. What the top image reads never changes during the copy (the base gets
 * exactly what it reads), so a power loss at any point leaves the top reading as before; the base may hold part of
 * the copy. Up to 16 data copies run at once, as in QEMU's mirror ({@link CopyPipeline}), and the base's host file
 * is written back as the copy goes ({@link WritebackAhead}) rather than all at the final flush. Emptying drops every
 * cluster of the image ({@link FormatImage#makeEmpty}), after the base is flushed.
 */
public final class Commit {
  /** QEMU's MAX_IO_BYTES: the largest data copy of the mirror. */
  static final int MAX_IO = 1 << 20;
  /** QEMU's default mirror buffer: the most dirty chunks handled in one iteration. */
  static final long BUFFER = 16L << 20;
  /** QEMU's MAX_IN_FLIGHT: the most data copies of the mirror at once. */
  static final int IN_FLIGHT = 16;
  private static final int MIN_GRANULARITY = 4096;
  private static final int MAX_GRANULARITY = 65536;

  /**
   * What to commit and how: qemu-img commit's options.
   *
   * @param image the image ({@code IMAGE})
   * @param format its format ({@code -f}), or null to probe
   * @param base the image of its backing chain to commit into ({@code -b}), or null for its backing file; naming a
   *     base implies {@code drop}, as in qemu-img
   * @param drop leave the image as it is ({@code -d}) instead of emptying it
   * @param rate bytes per second at most ({@code -r}), 0 for no limit
   * @param cache the cache mode of every image written ({@code -t})
   */
  public record Request(Path image, String format, String base, boolean drop, long rate, CacheMode cache) {}

  private Commit() {}

  /**
   * Commits as {@code request} says. The image and its chain are opened first (for writing, as qemu-img does), then
   * the base is opened for writing: a base that cannot be written or that another process holds is refused before
   * anything changes.
   *
   * @throws IOException with qemu-img's message
   */
  public static void run(Request request, Progress progress) throws IOException {
    FileOptions options = new FileOptions(request.cache(), false, false, true);
    ImageFormat topFormat;
    Path basePath;
    String baseFormat;
    try (OpenImage probe = Images.open(request.image(), request.format(), options)) {
      ImageChain chain = probe.chain(request.image());
      int depth = baseDepth(chain, request);
      topFormat = probe.format();
      basePath = chain.layers().get(depth).name();
      baseFormat = chain.layers().get(depth).format();
    }
    OpenImage base = Images.open(basePath, baseFormat, options);
    OpenImage top;
    try {
      Backing writable = new Backing(basePath.toString(), basePath, baseFormat, false, base.device(), base.file());
      FileContext context = FileContext.of(request.image(), options).reusing(writable);
      FileDevice file = FileDevice.openUnlocked(request.image(), options);
      try {
        file.lock(topFormat.keepsMetadata());
        top = Images.open(file, context, topFormat.name(), request.cache());
      } catch (IOException | RuntimeException e) {
        file.close();
        throw e;
      }
    } catch (IOException | RuntimeException e) {
      base.close();
      throw e;
    }
    try (top) {
      ImageChain chain = top.chain(request.image());
      int depth = indexOf(chain, base.device());
      commitInto(chain, depth, request.rate(), progress);
      base.device().flush();
      if (!request.drop() && request.base() == null) {
        makeEmpty(top.device());
      }
    }
  }

  /** The index in {@code chain} of the base the request names; qemu-img's errors where there is none. */
  private static int baseDepth(ImageChain chain, Request request) throws IOException {
    if (request.base() == null) {
      if (chain.layers().size() < 2) {
        throw new BlockDeviceException(BlockError.EINVAL, "Image does not have a backing file");
      }
      return 1;
    }
    for (int i = 1; i < chain.layers().size(); i++) {
      Path overlay = chain.layers().get(i - 1).name();
      Path named = ImageContext.resolve(overlay, request.base());
      Path layer = chain.layers().get(i).name();
      if (Files.exists(named) && Files.exists(layer) && Files.isSameFile(named, layer)) {
        return i;
      }
    }
    throw new BlockDeviceException(BlockError.EINVAL,
        "Did not find '" + request.base() + "' in the backing chain of '" + request.image() + "'");
  }

  private static int indexOf(ImageChain chain, BlockDevice device) {
    for (int i = 1; i < chain.layers().size(); i++) {
      if (chain.layers().get(i).device() == device) {
        return i;
      }
    }
    throw new IllegalStateException("commit: the writable base is not in the chain it was opened for");
  }

  /**
   * The copy step of a commit: writes into the image at {@code depth} of {@code chain} (open for writing) what the
   * top image reads wherever an image above the base defines a byte, as QEMU's commit job does (class comment),
   * at most {@code rate} bytes of data per second (0: no limit). Flushes nothing; the top image is not changed.
   */
  public static void commitInto(ImageChain chain, int depth, long rate, Progress progress) throws IOException {
    BlockDevice top = chain.layers().getFirst().device();
    BlockDevice base = chain.layers().get(depth).device();
    long length = top.size();
    if (base.size() < length) {
      base.resize(length);
    }
    int granularity = granularity(chain.layers().get(depth));
    BitSet dirty = dirtyChunks(chain, depth, length, granularity);
    progress.update(0, (long) dirty.cardinality() * granularity);
    try (CopyPipeline copies = new CopyPipeline(top, base, IN_FLIGHT, MAX_IO)) {
      copyChunks(chain, depth, dirty, granularity, rate, progress, copies);
      copies.finish();
    }
  }

  /** The loop of {@link #commitInto}: each run of dirty chunks, copied through {@code copies} or zeroed. */
  private static void copyChunks(ImageChain chain, int depth, BitSet dirty, int granularity, long rate,
      Progress progress, CopyPipeline copies) throws IOException {
    BlockDevice top = chain.layers().getFirst().device();
    BlockDevice base = chain.layers().get(depth).device();
    long length = top.size();
    long total = (long) dirty.cardinality() * granularity;
    long done = 0;
    RateLimit limit = rate > 0 ? new RateLimit(rate, "commit") : null;
    WritebackAhead writeback = new WritebackAhead(chain.layers().get(depth).file());
    for (int chunk = dirty.nextSetBit(0); chunk >= 0; chunk = dirty.nextSetBit(chunk)) {
      int chunks = 1;
      while ((long) chunks * granularity < BUFFER && dirty.get(chunk + chunks)) {
        chunks++;
      }
      dirty.clear(chunk, chunk + chunks);
      long offset = (long) chunk * granularity;
      chunk += chunks;
      while (chunks > 0 && offset < length) {
        // A new walk each time: the writes into the base change what a walker would have cached of it.
        long ask = Math.min((long) chunks * granularity, length - offset);
        BlockStatus status = ChainWalker.of(top, ChainWalker.Mode.LAYERS, offset, offset + ask).at(offset);
        boolean data = status.data();
        long bytes = status.end() - offset;
        if (data) {
          bytes = Math.min(bytes, MAX_IO);
        }
        bytes -= bytes % granularity;
        boolean copy = true;
        if (bytes < granularity) {
          bytes = granularity;
        } else if (!data && aligned(chain.layers().get(depth), offset, bytes)) {
          copy = false;
        }
        bytes = Math.min(bytes, length - offset);
        if (copy) {
          if (limit != null) {
            limit.await(bytes);
          }
          for (long pos = offset; pos < offset + bytes; pos += MAX_IO) {
            copies.copy(pos, (int) Math.min(MAX_IO, offset + bytes - pos));
          }
          writeback.wrote(bytes);
        } else if (status.zero()) {
          base.writeZeroes(offset, bytes, Set.of(WriteFlag.MAY_TRIM));
        } else {
          base.discard(offset, bytes);
        }
        offset += bytes;
        chunks -= (int) Math.ceilDiv(bytes, granularity);
        done += bytes;
        progress.update(Math.min(done, total), total);
      }
    }
  }

  /** QEMU's bdrv_get_default_bitmap_granularity of the base: its cluster size within 4 KiB to 64 KiB, else 64 KiB. */
  private static int granularity(ImageChain.Layer base) throws IOException {
    int cluster = base.facts().clusterSize().orElse(MAX_GRANULARITY);
    return Math.min(MAX_GRANULARITY, Math.max(MIN_GRANULARITY, cluster));
  }

  /** The chunks of which an image above the one at {@code depth} defines a byte (QEMU's mirror_dirty_init). */
  private static BitSet dirtyChunks(ImageChain chain, int depth, long length, int granularity) throws IOException {
    BitSet dirty = new BitSet();
    ChainWalker walker = ChainWalker.of(chain.layers().getFirst().device(), ChainWalker.Mode.LAYERS, 0, length);
    for (long pos = 0; pos < length; ) {
      BlockStatus s = walker.at(pos);
      if (s.depth() < depth && s.allocated()) {
        dirty.set((int) (s.offset() / granularity), (int) Math.ceilDiv(s.end(), granularity));
      }
      pos = s.end();
    }
    return dirty;
  }

  /** QEMU's bdrv_round_to_clusters check: the range starts and ends on the base's cluster boundaries. */
  private static boolean aligned(ImageChain.Layer base, long offset, long bytes) throws IOException {
    int cluster = base.facts().clusterSize().orElse(1);
    return offset % cluster == 0 && bytes % cluster == 0;
  }

  /** Empties the committed image as qemu-img does; formats that cannot are left as they are (QEMU's ENOTSUP). */
  public static void makeEmpty(BlockDevice image) throws IOException {
    FormatImage format = FilterDevice.find(image, FormatImage.class);
    try {
      if (format != null) {
        format.makeEmpty();
      }
    } catch (BlockDeviceException e) {
      if (e.error() != BlockError.ENOTSUP) {
        throw e;
      }
    }
  }
}
