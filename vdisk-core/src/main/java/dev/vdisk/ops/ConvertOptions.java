package dev.vdisk.ops;

/**
 * How {@link dev.vdisk.Vdisk#convert} copies, with qemu-img convert's defaults ({@link #DEFAULTS}).
 *
 * @param workers parallel copy workers, 1 to {@link #MAX_WORKERS} (qemu-img's {@code -m}, default 8); memory
 *     use is {@code workers * bufferSize}
 * @param inOrder write the target strictly in ascending order (qemu-img's default); false is {@code -W}
 * @param sparseBytes {@code -S}: runs of zeroes in data of at least this many bytes are not written as data
 *     (default 4096); a multiple of 512 up to {@link #MAX_SPARSE}; 0 writes everything, zeroes included, as data
 * @param targetIsZero the target reads as zeroes before the copy (freshly created, or {@code --target-is-zero}):
 *     zeroes need not be written at all; otherwise they are written with {@code writeZeroes(MAY_TRIM)}
 * @param bufferSize bytes one worker reads and writes at a time (qemu-img: 2 MiB)
 * @param compressed {@code -c}: data goes to the target with {@link dev.vdisk.block.WriteFlag#COMPRESSED}, in
 *     whole compression units (a short run of zeroes inside one is written as data)
 * @param overBacking {@code -B}: the target's backing image reads as the source's backing image does, so only what
 *     the source's top layer defines is written: its data, and its zeroes where the target's backing image reaches
 *     (qemu-img convert with a backing file for the target)
 * @param offload {@code -C}, copy offloading: data the source holds verbatim in a host file (a raw file, qcow2 data
 *     clusters) goes into a target in a host file by the host kernel's copy from file to file ({@code
 *     copy_file_range}) where the target takes it ({@link dev.vdisk.block.BlockDevice#writeFrom}), whole, as
 *     qemu-img's {@code -C} copies it: zero runs inside such data are copied, not left sparse. Elsewhere (compressed
 *     clusters, a backing file's data, a target that cannot take the copy) as without it; qemu-img -C copies a
 *     backing file's data whole as well, so zero runs there can come out allocated in its output and sparse in vdisk's.
 * @param rateLimit {@code -r}: the target's writes (data, zeroes and kernel copies) at most this many bytes per
 *     second on average, as QEMU throttles them; 0 for no limit
 * @param salvage {@code --salvage}: a chunk whose read fails is read again 512 bytes at a time, and each sector that
 *     still fails is written as zeroes, with a warning (System.Logger), instead of failing the copy, as qemu-img
 *     does; the source is then read, never mapped
 */
public record ConvertOptions(int workers, boolean inOrder, int sparseBytes, boolean targetIsZero, int bufferSize,
    boolean compressed, boolean overBacking, boolean offload, long rateLimit, boolean salvage) {
  /** The unit of sparse detection: {@code sparseBytes} and {@code bufferSize} are multiples of it. */
  public static final int SECTOR = 512;
  public static final int MAX_WORKERS = 16;
  public static final int MAX_SPARSE = 16 << 20;
  public static final int DEFAULT_BUFFER = 2 << 20;
  public static final ConvertOptions DEFAULTS = new ConvertOptions(8, true, 4096, false, DEFAULT_BUFFER, false, false);

  /** Without copy offloading and rate limit. */
  public ConvertOptions(int workers, boolean inOrder, int sparseBytes, boolean targetIsZero, int bufferSize,
      boolean compressed, boolean overBacking) {
    this(workers, inOrder, sparseBytes, targetIsZero, bufferSize, compressed, overBacking, false, 0, false);
  }

  /** Without compression, over the whole source. */
  public ConvertOptions(int workers, boolean inOrder, int sparseBytes, boolean targetIsZero, int bufferSize) {
    this(workers, inOrder, sparseBytes, targetIsZero, bufferSize, false, false);
  }

  /** Checks each value against its bounds. */
  public ConvertOptions {
    if (workers < 1 || workers > MAX_WORKERS) {
      throw new IllegalArgumentException("workers: " + workers + " (expected: 1 to " + MAX_WORKERS + ")");
    }
    if (sparseBytes < 0 || sparseBytes % SECTOR != 0 || sparseBytes > MAX_SPARSE) {
      throw new IllegalArgumentException("sparse size: " + sparseBytes + " (expected: a multiple of "
          + SECTOR + " up to " + MAX_SPARSE + ", or 0 to disable sparse detection)");
    }
    if (offload && compressed) {
      throw new IllegalArgumentException("offload: with compressed (expected: one of the two; compressed data is not"
          + " copied verbatim)");
    }
    if (rateLimit < 0) {
      throw new IllegalArgumentException("rate limit: " + rateLimit + " (expected: bytes per second, or 0 for none)");
    }
    if (bufferSize < SECTOR || bufferSize % SECTOR != 0) {
      throw new IllegalArgumentException("buffer size: " + bufferSize + " (expected: a positive multiple of "
          + SECTOR + ")");
    }
  }

  /** These options with {@code n} workers ({@code -m}). */
  public ConvertOptions withWorkers(int n) {
    return new ConvertOptions(n, inOrder, sparseBytes, targetIsZero, bufferSize, compressed, overBacking,
        offload, rateLimit, salvage);
  }

  /** These options writing in order or not ({@code -W}). */
  public ConvertOptions withInOrder(boolean ordered) {
    return new ConvertOptions(workers, ordered, sparseBytes, targetIsZero, bufferSize, compressed, overBacking,
        offload, rateLimit, salvage);
  }

  /** These options with sparse detection over {@code bytes} ({@code -S}, 0 for none). */
  public ConvertOptions withSparseBytes(int bytes) {
    return new ConvertOptions(workers, inOrder, bytes, targetIsZero, bufferSize, compressed, overBacking,
        offload, rateLimit, salvage);
  }

  /** These options with the target known to read as zeroes or not. */
  public ConvertOptions withTargetIsZero(boolean zero) {
    return new ConvertOptions(workers, inOrder, sparseBytes, zero, bufferSize, compressed, overBacking,
        offload, rateLimit, salvage);
  }

  /** These options reading {@code bytes} per request. */
  public ConvertOptions withBufferSize(int bytes) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bytes, compressed, overBacking,
        offload, rateLimit, salvage);
  }

  /** These options writing compressed or not ({@code -c}). */
  public ConvertOptions withCompressed(boolean c) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bufferSize, c, overBacking,
        offload, rateLimit, salvage);
  }

  /** These options writing only the source's top layer ({@code -B}) or the whole source. */
  public ConvertOptions withOverBacking(boolean over) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bufferSize, compressed, over,
        offload, rateLimit, salvage);
  }

  /** These options with copy offloading or without ({@code -C}). */
  public ConvertOptions withOffload(boolean o) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bufferSize, compressed, overBacking, o,
        rateLimit, salvage);
  }

  /** These options with the target's writes limited to {@code bytesPerSecond} ({@code -r}; 0: no limit). */
  public ConvertOptions withRateLimit(long bytesPerSecond) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bufferSize, compressed, overBacking, offload,
        bytesPerSecond, salvage);
  }

  /** These options with unreadable sectors written as zeroes ({@code --salvage}) or failing the copy. */
  public ConvertOptions withSalvage(boolean on) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bufferSize, compressed, overBacking, offload,
        rateLimit, on);
  }
}
