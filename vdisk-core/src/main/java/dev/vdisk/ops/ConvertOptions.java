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
 */
public record ConvertOptions(int workers, boolean inOrder, int sparseBytes, boolean targetIsZero, int bufferSize,
    boolean compressed) {
  /** The unit of sparse detection: {@code sparseBytes} and {@code bufferSize} are multiples of it. */
  public static final int SECTOR = 512;
  public static final int MAX_WORKERS = 16;
  public static final int MAX_SPARSE = 16 << 20;
  public static final int DEFAULT_BUFFER = 2 << 20;
  public static final ConvertOptions DEFAULTS = new ConvertOptions(8, true, 4096, false, DEFAULT_BUFFER, false);

  /** Without compression. */
  public ConvertOptions(int workers, boolean inOrder, int sparseBytes, boolean targetIsZero, int bufferSize) {
    this(workers, inOrder, sparseBytes, targetIsZero, bufferSize, false);
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
    if (bufferSize < SECTOR || bufferSize % SECTOR != 0) {
      throw new IllegalArgumentException("buffer size: " + bufferSize + " (expected: a positive multiple of "
          + SECTOR + ")");
    }
  }

  /** These options with {@code n} workers ({@code -m}). */
  public ConvertOptions withWorkers(int n) {
    return new ConvertOptions(n, inOrder, sparseBytes, targetIsZero, bufferSize, compressed);
  }

  /** These options writing in order or not ({@code -W}). */
  public ConvertOptions withInOrder(boolean ordered) {
    return new ConvertOptions(workers, ordered, sparseBytes, targetIsZero, bufferSize, compressed);
  }

  /** These options with sparse detection over {@code bytes} ({@code -S}, 0 for none). */
  public ConvertOptions withSparseBytes(int bytes) {
    return new ConvertOptions(workers, inOrder, bytes, targetIsZero, bufferSize, compressed);
  }

  /** These options with the target known to read as zeroes or not. */
  public ConvertOptions withTargetIsZero(boolean zero) {
    return new ConvertOptions(workers, inOrder, sparseBytes, zero, bufferSize, compressed);
  }

  /** These options reading {@code bytes} per request. */
  public ConvertOptions withBufferSize(int bytes) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bytes, compressed);
  }

  /** These options writing compressed or not ({@code -c}). */
  public ConvertOptions withCompressed(boolean c) {
    return new ConvertOptions(workers, inOrder, sparseBytes, targetIsZero, bufferSize, c);
  }
}
