package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.Extent;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * {@code qemu-img rebase}: gives an image another backing file. In safe mode (the default) every range the image
 * does not define and whose bytes differ between the old backing chain and the new backing image is first copied
 * into the image, so that what the guest reads does not change; then the header names the new backing file. With
 * {@code unsafe} ({@code -u}) only the header changes and no backing image is opened.
 *
 * <p>The copy is QEMU 7.2's {@code img_rebase}: 2 MiB at a time, 512-byte sectors compared, differing runs written
 * as the old chain's bytes, or as zeroes (a zero write) past the end of the old backing image; a new backing image
 * shorter than the image reads as zeroes past its end, as does the old one. Where the new backing image is an image
 * of the current chain, ranges that no image above it defines are skipped, as QEMU does; ranges that read as zeroes
 * in both chains are skipped too (QEMU reads and compares them, to the same effect). A power loss at any point
 * leaves the image reading as before (the copy changes nothing a guest sees) or, once the header is written, as
 * after (the same bytes); the header change itself is crash-safe ({@link ImageFormat#changeBacking}).
 */
public final class Rebase {
  /** qemu-img's IO_BUF_SIZE. */
  static final int CHUNK = 2 << 20;
  /** Chunks read ahead of the comparison, each from the old and the new backing chain at once. */
  private static final int AHEAD = 4;
  private static final int SECTOR = 512;

  /**
   * What to rebase and how: qemu-img rebase's options.
   *
   * @param image the image ({@code IMAGE})
   * @param format its format ({@code -f}), or null to probe
   * @param backing the new backing file name as it is to be recorded ({@code -b}), relative to the image's
   *     directory; empty for none (flatten in safe mode)
   * @param backingFormat the new backing file's format ({@code -F}), or null: needed with a backing file
   * @param unsafe rewrite the header only ({@code -u})
   * @param cache the image's cache mode ({@code -t})
   * @param sourceCache the backing images' cache mode ({@code -T})
   * @param forceShare open the new backing image even if another process holds it ({@code -U})
   */
  public record Request(Path image, String format, String backing, String backingFormat, boolean unsafe,
      CacheMode cache, CacheMode sourceCache, boolean forceShare) {}

  private Rebase() {}

  /**
   * Rebases as {@code request} says. Every argument is checked before the image changes: an unknown format, a
   * backing file without a format, a format that cannot record a backing file and a new backing image that cannot
   * be opened are refused with qemu-img's message and the image untouched.
   *
   * @throws IOException with qemu-img's message
   */
  public static void run(Request request, Progress progress) throws IOException {
    boolean flatten = request.backing().isEmpty();
    if (request.backingFormat() != null
        && FormatRegistry.all().stream().noneMatch(f -> f.name().equals(request.backingFormat()))) {
      throw new IllegalArgumentException("Invalid format name: '" + request.backingFormat() + "'");
    }
    FileOptions options = new FileOptions(request.cache(), false, false, true);
    OpenImage image = request.unsafe() ? Images.openWithoutBacking(request.image(), request.format(), options)
        : Images.open(request.image(), request.format(), options);
    FileDevice header;
    try {
      if (!image.format().supportsBacking()) {
        throw cannotChange(request.backing(), "Operation not supported", null);
      }
      if (request.unsafe()) {
        requireFormat(request);
      } else {
        ImageChain chain = image.chain(request.image());
        try (NewBacking target = flatten ? new NewBacking(null, null) : NewBacking.open(chain, request)) {
          // qemu-img finds a missing format only after the copy; refused here before anything changes.
          requireFormat(request);
          copyDifferences(chain, target.device(), progress);
        }
      }
      image.device().flush();
      // Opened again before the image is closed, and locked once it is, so the header changes under the lock.
      header = FileDevice.openUnlocked(request.image(), FileOptions.of(request.cache(), false));
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
    try (header) {
      image.close();
      header.lock(image.format().keepsMetadata());
      changeHeader(header, image.format(), request);
    }
  }

  /**
   * The data step of a safe rebase: writes into {@code chain}'s top image (open for writing) every range it does
   * not define whose bytes differ between its current backing chain and {@code newBacking} (null: none, which
   * reads as zeroes), as QEMU 7.2's {@code img_rebase}. The image reads the same before and after; its header is
   * not changed. Flushes nothing.
   */
  public static void copyDifferences(ImageChain chain, BlockDevice newBacking, Progress progress) throws IOException {
    BlockDevice top = chain.layers().getFirst().device();
    BlockDevice oldBacking = chain.layers().size() > 1 ? chain.layers().get(1).device() : null;
    int prefix = prefixDepth(chain, newBacking);
    long size = top.size();
    long oldSize = oldBacking == null ? 0 : oldBacking.size();
    long newSize = newBacking == null ? 0 : newBacking.size();
    // The new backing chain is never written: one walk over it serves the whole copy.
    ChainWalker newWalker = newBacking == null ? null : ChainWalker.of(newBacking, ChainWalker.Mode.LAYERS);
    progress.update(0, size);
    try (ChunkReader reader = new ChunkReader(AHEAD, CHUNK)) {
      for (long offset = 0, n; offset < size; offset += n) {
        n = Math.min(CHUNK, size - offset);
        Extent own = top.extents(offset, n).getFirst();
        n = Math.min(n, own.end() - offset);
        boolean same = own.present();
        if (!same && prefix > 0) {
          // Nothing between the image and the new backing image (one of its chain) defines the range: no change.
          // A new walk each time: the writes into the top change what a walker would have cached of it.
          BlockStatus first = ChainWalker.of(top, ChainWalker.Mode.LAYERS, offset, offset + n).at(offset);
          n = Math.min(n, first.end() - offset);
          same = first.depth() >= prefix;
        }
        if (same) {
          progress.update(offset + n, size);
          continue;
        }
        boolean oldIsZero = offset >= oldSize;
        if (!oldIsZero) {
          n = Math.min(n, oldSize - offset);
        }
        if (newBacking != null && offset < newSize) {
          n = Math.min(n, newSize - offset);
        }
        long zeroes = zeroesInBoth(
            oldIsZero ? null : ChainWalker.of(top, ChainWalker.Mode.LAYERS, offset, offset + n).at(offset),
            newBacking == null || offset >= newSize ? null : newWalker.at(offset), offset, n);
        if (zeroes > 0) {
          // Both chains read zeroes here (QEMU reads and compares them): equal, nothing to write.
          n = zeroes;
          progress.update(offset + n, size);
          continue;
        }
        ChunkReader.Chunk done = reader.read(offset, (int) n, oldIsZero ? null : oldBacking,
            newBacking == null || offset >= newSize ? null : newBacking);
        if (done != null) {
          writeDifferences(top, done, progress, size);
        }
      }
      for (ChunkReader.Chunk done; (done = reader.next()) != null; ) {
        writeDifferences(top, done, progress, size);
      }
    }
  }

  /** The differences of a chunk read written (see the method below), then its buffers given back. */
  private static void writeDifferences(BlockDevice top, ChunkReader.Chunk chunk, Progress progress, long size)
      throws IOException {
    writeDifferences(top, chunk.offset(), chunk.old(), chunk.now(), chunk.oldIsZero());
    chunk.release();
    progress.update(chunk.offset() + chunk.old().limit(), size);
  }

  /**
   * The bytes from {@code offset} (at most {@code length}) that read as zeroes both where the old chain's status is
   * {@code old} and where the new one's is {@code now} (null: a chain that reads zeroes there), or 0 if either has
   * data there.
   */
  private static long zeroesInBoth(BlockStatus old, BlockStatus now, long offset, long length) {
    long n = length;
    for (BlockStatus s : new BlockStatus[] {old, now}) {
      if (s != null) {
        if (s.allocated() && !s.zero()) {
          return 0;
        }
        n = Math.min(n, s.end() - offset);
      }
    }
    return n;
  }

  /** The index of {@code newBacking} in {@code chain} below the top, or 0 where it is not one of its images. */
  private static int prefixDepth(ImageChain chain, BlockDevice newBacking) {
    for (int i = 1; i < chain.layers().size(); i++) {
      if (chain.layers().get(i).device() == newBacking) {
        return i;
      }
    }
    return 0;
  }

  /**
   * QEMU's compare_buffers loop: runs of 512-byte sectors that differ are written, as data or as zeroes. Equal bytes
   * are skipped with one vectorised comparison rather than sector by sector.
   */
  private static void writeDifferences(BlockDevice top, long offset, ByteBuffer old, ByteBuffer now, boolean oldIsZero)
      throws IOException {
    int n = old.limit();
    for (int pos = 0; pos < n; ) {
      int first = old.slice(pos, n - pos).mismatch(now.slice(pos, n - pos));
      if (first < 0) {
        return;
      }
      int start = pos + first / SECTOR * SECTOR;
      int end = start + Math.min(SECTOR, n - start);
      while (end < n) {
        int l = Math.min(SECTOR, n - end);
        if (old.slice(end, l).mismatch(now.slice(end, l)) < 0) {
          break;
        }
        end += l;
      }
      if (oldIsZero) {
        top.writeZeroes(offset + start, end - start, Set.of());
      } else {
        top.write(offset + start, old.slice(start, end - start), Set.of());
      }
      pos = end;
    }
  }

  private static void requireFormat(Request request) throws BlockDeviceException {
    if (!request.backing().isEmpty() && request.backingFormat() == null) {
      throw cannotChange(request.backing(), "backing format must be specified", null);
    }
  }

  /** Writes the new backing file name and format into the header of the image in {@code file}. */
  private static void changeHeader(FileDevice file, ImageFormat format, Request request) throws IOException {
    Optional<String> name = request.backing().isEmpty() ? Optional.empty() : Optional.of(request.backing());
    try {
      format.changeBacking(file, name, name.isEmpty() ? Optional.empty() : Optional.ofNullable(request.backingFormat()));
    } catch (BlockDeviceException e) {
      throw cannotChange(request.backing(), switch (e.error()) {
        case ENOSPC -> "No space left in the file header";
        case EINVAL -> "Invalid argument";
        case ENOTSUP -> "Operation not supported";
        default -> e.getMessage();
      }, e);
    }
  }

  private static BlockDeviceException cannotChange(String backing, String why, Throwable cause) {
    return new BlockDeviceException(cause instanceof BlockDeviceException b ? b.error() : BlockError.ENOTSUP,
        "Could not change the backing file to '" + backing + "': " + why, cause);
  }

  /** The new backing image: one of the chain's images (not closed here), one opened for the rebase, or none. */
  private record NewBacking(BlockDevice device, OpenImage opened) implements AutoCloseable {
    static NewBacking open(ImageChain chain, Request request) throws IOException {
      Path path = ImageContext.resolve(request.image(), request.backing());
      if (Files.exists(path)) {
        Path real = path.toRealPath();
        for (int i = 1; i < chain.layers().size(); i++) {
          ImageChain.Layer layer = chain.layers().get(i);
          if (layer.name() != null && Files.exists(layer.name()) && layer.name().toRealPath().equals(real)) {
            return new NewBacking(layer.device(), null);
          }
        }
      }
      try {
        if (!Files.exists(path)) {
          throw new IOException("Could not open '" + path + "': No such file or directory");
        }
        OpenImage opened = Images.open(path, request.backingFormat(),
            new FileOptions(request.sourceCache(), true, request.forceShare(), true));
        return new NewBacking(opened.device(), opened);
      } catch (IOException e) {
        throw new IOException("Could not open new backing file '" + request.backing() + "': " + e.getMessage(), e);
      }
    }

    @Override
    public void close() throws IOException {
      if (opened != null) {
        opened.close();
      }
    }
  }
}
