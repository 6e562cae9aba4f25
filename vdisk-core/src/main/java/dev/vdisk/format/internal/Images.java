package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.filter.NoFlushFilter;
import dev.vdisk.block.filter.WritethroughFilter;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;

/**
 * Opens images as complete stacks:
 * {@code Checked([Writethrough | NoFlush](Format(device)))}, with the cache mode's three switches
 * placed where QEMU places them.
 */
public final class Images {
  private static final int PROBE_BYTES = 4096;

  private Images() {}

  /**
   * Opens {@code path}.
   *
   * @param formatName the format, or null to probe (falls back to raw)
   */
  public static OpenImage open(Path path, String formatName, FileOptions options) throws IOException {
    return open(path, formatName, options, FileContext.of(path, options));
  }

  /** {@link #open}, with the password of an encrypted image ({@code key}, null for none). */
  public static OpenImage open(Path path, String formatName, FileOptions options, byte[] key) throws IOException {
    return open(path, formatName, options, FileContext.of(path, options).withEncryptionKey(key));
  }

  /** {@link #open} without the backing image ({@link FileContext#withoutBacking}): qemu-img rebase -u's open. */
  public static OpenImage openWithoutBacking(Path path, String formatName, FileOptions options) throws IOException {
    return open(path, formatName, options, FileContext.withoutBacking(path, options));
  }

  /**
   * {@link #open} without the backing image and the external data file ({@link FileContext#forFacts}): qemu-img
   * info's open.
   */
  public static OpenImage openForFacts(Path path, String formatName, FileOptions options) throws IOException {
    return open(path, formatName, options, FileContext.forFacts(path, options));
  }

  private static OpenImage open(Path path, String formatName, FileOptions options, FileContext context)
      throws IOException {
    if (RbdImages.isRbd(path.toString())) {
      return RbdImages.open(path.toString(), formatName, options, context.opensBacking());
    }
    ImageFormat explicit = formatName == null ? null : FormatRegistry.byName(formatName);
    FileDevice file = FileDevice.openUnlocked(path, options);
    try {
      ImageFormat format = explicit != null ? explicit : probe(file);
      // Locked once the format is known and before it reads or writes metadata, as QEMU does.
      file.lock(format.keepsMetadata());
      return stack(file, file, context, format, explicit == null, options.cache());
    } catch (IOException | RuntimeException e) {
      file.close();
      throw e;
    }
  }

  /**
   * Creates an image of {@code format} at {@code path}: a local file through the format, or (a name starting with
   * {@code rbd:}) an RBD image through {@link RbdImages#create}, which refuses {@code overwrite} as QEMU's rbd driver
   * does (an existing RBD image is an error).
   */
  public static void create(ImageFormat format, Path path, long size, Map<String, String> options, boolean overwrite)
      throws IOException {
    if (RbdImages.isRbd(path.toString())) {
      RbdImages.create(path.toString(), format, size, options);
    } else {
      format.create(path, size, options, overwrite);
    }
  }

  /**
   * Opens the image whose bytes are {@code device} (any device: memory, a simulated disk, a network device) in
   * {@code context}. On success the image owns {@code device}; on failure the caller still does.
   *
   * @param formatName the format, or null to probe (falls back to raw)
   * @param cache the cache mode whose writethrough and no-flush switches apply to the whole stack
   */
  public static OpenImage open(BlockDevice device, ImageContext context, String formatName, CacheMode cache)
      throws IOException {
    ImageFormat format = formatName == null ? probe(device) : FormatRegistry.byName(formatName);
    return stack(device, null, context, format, formatName == null, cache);
  }

  private static OpenImage stack(BlockDevice device, FileDevice file, ImageContext context, ImageFormat format,
      boolean probed, CacheMode cache) throws IOException {
    BlockDevice image = format.open(device, context, probed);
    return new OpenImage(new CheckedDevice(applyCacheSwitches(image, cache), context.readOnly()), format, file,
        probed);
  }

  /**
   * Writethrough's flushes at once over a device whose flushes the host merges: at depth 16 or less, every write
   * starts its own flush at once (bench's 4 KiB depth-16 raw writes, alternating runs on a loaded 2-core VM: 16 ahead
   * of 1, 2, 4 and 8, whose pending flush waits for a thread to wake once a slot frees). Under O_DIRECT (directsync)
   * they share the file's descriptor; through the page cache (writethrough) a FileDevice gives each concurrent flush a
   * descriptor of its own, as many as this, so that each sees every write-back error ({@code WritebackErrors}). There,
   * bench's scattered 4 KiB writes at depth 16 (compare-qemu's cell; 40,000 on a fully allocated 1 GiB raw file, load
   * 10-11, five alternations on 2026-12-04) took 1.50-1.99 s against 1.57-2.15 s with one slot, for 40,000
   * fdatasyncs instead of 2,709 and about 0.2 CPU-s more; sequential 4 KiB writes, which one shared flush writes back
   * as a few large requests, went the other way on that loaded machine (3.0-4.2 s against 1.2-1.7 s, 1.3 CPU-s more
   * system time), while on a quiet one 16 flushes at once on a shared descriptor had run them in 0.93-0.99 s against
   * 1.52-1.64 s for one at a time. Wake-ups are what the slots cost, and a loaded host delays each. Sequential writes
   * through the page cache now share flushes as neighbours ({@link #NEIGHBOUR_FLUSHES}).
   */
  private static final int MERGED_FLUSHES = 16;
  /**
   * Of those, how many writes next to writes waiting for a flush may start through the page cache (writethrough):
   * one, which also waits for the writes in flight (as one slot does), so that a sequential run shares one flush per
   * round as with one flush at a time, while scattered writes keep all 16. Concurrent fdatasyncs of adjacent dirty
   * pages contend for them. 40,000 sequential 4 KiB writes at depth 16 on a fully allocated 1 GiB raw file (load 5-10,
   * alternating, 2026-12-05): where the file had just been written with 1 MiB writes (as an image is made or copied;
   * its page cache then holds large folios; the state of the quiet run that found 16 at once 1.5x slower), 16 at once
   * took 2.8-4.3 s, 40,000 fdatasyncs, 27,500-28,600 device flushes, 238,000-271,000 context switches and 2.3-3.1
   * CPU-s; one for neighbours 1.2-1.4 s, 4,800-4,850 of each, 61,000-65,000 and 1.4-1.5 CPU-s, as one flush at a time
   * for all (1.1-1.5 s, 4,800-4,950); two for neighbours 1.25-2.6 s, 7,100-8,000, 77,000-91,000 and 1.4-1.6. Where its
   * pages were cached from 4 KiB writes (dropped first), 16 at once was the faster, 0.92-1.06 s against 1.21-1.38 s,
   * with 40,000 fdatasyncs, 10,700-14,200 device flushes, 38,000 device write requests and 1.6-2.2 CPU-s against
   * 4,800, 4,800, 5,200 and 1.4-1.6: a trade, taken for the state that costs 2.3x. Scattered writes (compare-qemu's
   * cell) have no neighbours: the same counts as before. Under O_DIRECT (directsync) no page-cache write-back contends
   * (16 at once made no more device flushes for sequential writes than 2), so all 16 there.
   */
  private static final int NEIGHBOUR_FLUSHES = 1;

  /** Wraps {@code image} in the filters that a cache mode's writethrough and no-flush switches need. */
  public static BlockDevice applyCacheSwitches(BlockDevice image, CacheMode cache) {
    if (cache.writethrough()) {
      if (!flushesMerge(image)) {
        return new WritethroughFilter(image, 1);
      }
      return new WritethroughFilter(image, MERGED_FLUSHES, cache.direct() ? MERGED_FLUSHES : NEIGHBOUR_FLUSHES);
    }
    if (cache.ignoreFlushes()) {
      return new NoFlushFilter(image);
    }
    return image;
  }

  /**
   * Whether {@code image}'s flushes run concurrently down to the host, which merges them: a host file's, and a raw
   * image's (its file's, or whatever device holds its bytes). A format with metadata may serialize them (qcow2 holds
   * its metadata lock across its flush, fdatasync included): concurrent flushes would queue there.
   */
  static boolean flushesMerge(BlockDevice image) {
    return image instanceof FileDevice || image instanceof FormatImage f && f.format().name().equals("raw");
  }

  /** The format of the image in {@code file}: the best non-raw format claiming its first bytes, else raw. */
  public static ImageFormat probe(BlockDevice file) throws IOException {
    ByteBuffer head = ByteBuffer.allocate((int) Math.min(PROBE_BYTES, file.size()));
    file.read(0, head);
    return FormatRegistry.probeNonRaw(head.flip()).orElse(FormatRegistry.byName("raw"));
  }
}
