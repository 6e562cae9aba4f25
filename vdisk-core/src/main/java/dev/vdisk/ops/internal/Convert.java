package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.ImageChain;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.ops.ConvertOptions;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Copies a source device into a target device the way {@code qemu-img convert} does (its
 * {@code convert_do_copy}), so that the target's contents and its allocation come out as qemu-img's.
 *
 * <ul>
 *   <li>The source is walked by {@link ChainWalker} through its backing chain. Ranges that read as zeroes are
 *       never read; on a target known to be zero they are not written at all, otherwise they are zeroed with
 *       {@code writeZeroes(MAY_TRIM)}. With {@code -S 0} they are written as data, as qemu-img does.
 *   <li>Data is read in chunks of at most {@link ConvertOptions#bufferSize()} by {@link
 *       ConvertOptions#workers()} threads, each with one buffer: memory is bounded by their product. Within
 *       data, zero runs of at least {@link ConvertOptions#sparseBytes()} are treated like zero ranges
 *       ({@link SparseScanner}). A chunk whose bytes sit verbatim in one host file (raw, qcow2 data clusters; of the
 *       source, or of the backing image whose data they are) and in its page cache is scanned and written from a
 *       read-only mapping of that file ({@link MappedChunk}, a slice of a
 *       large window that {@link MappedWindows} maps once for many chunks) instead of read into the buffer: one copy
 *       of each byte (into the target) where a read makes two. With {@link ConvertOptions#offload()} ({@code -C})
 *       such a chunk, in the page cache or not, goes into a raw file whole, unscanned, copied by the kernel from file
 *       to file ({@link BlockDevice#writeFrom}, copy_file_range), as qemu-img -C copies. Without {@code -C} the
 *       scanned data runs are written from the mapping, not copied by the kernel: ext4 has no copy_file_range of its
 *       own and the kernel moves the pages through splice's internal pipe, which costs more than the write (4 GiB
 *       half-data sources, alternating runs: wall 0.84 -> 1.01 s raw to raw, 0.87 -> 1.04 s qcow2 to raw;
 *       {@code bench/copy-paths.sh} shows it without a JVM). Only a file system that clones (XFS with reflink,
 *       btrfs) makes the kernel's copy cheaper. The write from the mapping is the copy's serial path (ext4 holds the
 *       inode lock over a buffered write) and its copy reads source pages that no CPU cache holds (the scan reads one
 *       line per 4 KiB): 4 GiB half-data qcow2 to raw, 5 alternating rounds under perf, 5 kHz samples of
 *       copy_folio_from_iter_atomic per 2 GiB, median 2,287 against qemu-img's 1,683 from buffers that its reads
 *       (another thread, a median 5 chunks earlier) had written. Reading 512 KiB chunks into buffers just ahead of their
 *       writes ({@code -m 2}) made this copy as cheap (1,584) but added the read's copy (1,729) on the core that the
 *       scans and the JIT use, 2 MiB buffers gained less (1,853); reading each mapped chunk whole ahead of its write
 *       (memcmp with itself) cost a cold read and did not cheapen the write (2,167): a written buffer is what helps.
 *   <li>Writes go out in ascending order unless {@link ConvertOptions#inOrder()} is false ({@link InOrderWrites}: a
 *       chunk ready before its turn is written by the thread that wrote the chunk before it); reads run ahead in
 *       parallel either way.
 *   <li>With {@link ConvertOptions#compressed()} ({@code -c}) chunks are whole compression units of the target
 *       (its clusters): data units are written compressed, except units of zeroes (handled as zero ranges); a zero
 *       run shorter than a unit is copied as data with the rest of its unit, longer ones are cut to whole units.
 *       The compression runs inside the write: in order (the default, as qemu-img) one chunk at a time, which keeps
 *       the packing of compressed bytes dense and qemu-img's; with {@code -W} the workers compress in parallel, and
 *       a unit stored plainly between compressed ones can cost part of a cluster.
 *   <li>The target is flushed at the end (a no-op under cache=unsafe, qemu-img convert's default).
 * </ul>
 *
 * <p>The first failure stops every worker; it is rethrown as an IOException naming the operation, the
 * device and the offset. The target is then left partly written.
 */
public final class Convert {
  private static final Set<WriteFlag> MAY_TRIM = Set.of(WriteFlag.MAY_TRIM);
  private static final Set<WriteFlag> COMPRESSED = Set.of(WriteFlag.COMPRESSED);

  private final Named source;
  private final Named target;
  private final ConvertOptions options;
  private final Progress progress;
  private final long size;
  private final SparseScanner scanner;
  /** With {@code -c}: the target's compression unit; else 0. */
  private final int unit;
  /** The mappings that data chunks stored verbatim in a host file are read through ({@link MappedChunk}); null where
   * every chunk is read. */
  private final MappedWindows windows;
  /** With {@code -B}: the size of the target's backing image (qemu-img's target_backing_sectors); else -1. */
  private final long targetBacking;

  private final ReentrantLock lock = new ReentrantLock();
  /** Guarded by {@link #lock}: the next byte to hand out and the status run around it. */
  private long next;
  private ChainWalker walker;
  /** The source's chain, top first, for {@link #layer}; made at the first data chunk. */
  private List<ImageChain.Layer> layers;
  private BlockStatus status;
  /** The writes in ascending order unless {@code -W}. */
  private final InOrderWrites writes = new InOrderWrites();
  private volatile IOException failure;
  /**
   * With {@link ConvertOptions#offload()}: whether the target may still take {@link BlockDevice#writeFrom}; false once
   * it has refused (qemu-img likewise stops offloading after the first copy that fails).
   */
  private volatile boolean kernelCopy;

  /** Guards {@link #done} so that progress updates go out in order. */
  private final Object progressLock = new Object();
  private long done;
  private long work;

  private Convert(Named source, Named target, ConvertOptions options, long targetBacking, Progress progress,
      boolean mapSource) throws IOException {
    this.targetBacking = targetBacking;
    this.source = source;
    this.target = target;
    this.options = options;
    this.progress = progress;
    this.size = source.device().size();
    int min = options.sparseBytes() / SparseScanner.SECTOR;
    this.scanner = min == 0 ? null
        : new SparseScanner(min, SparseScanner.alignment(min, target.device().limits().requestAlignment()));
    this.unit = options.compressed() ? target.device().limits().compressionUnit() : 0;
    // --salvage reads: a mapping's read error is a SIGBUS the JVM turns into an InternalError for the whole chunk.
    this.windows = mapSource && !options.salvage() ? new MappedWindows(Math.max(options.bufferSize(), unit)) : null;
    this.kernelCopy = options.offload();
  }

  /**
   * Copies all of {@code source} to the start of {@code target}.
   *
   * @throws IOException if the target is smaller than the source, is read-only, or a read or write fails
   */
  public static void run(Named source, Named target, ConvertOptions options, Progress progress) throws IOException {
    new Convert(source, target, options, -1, progress, true).copy();
  }

  /** {@link #run}, reading every data chunk with {@code read} (no mapping): the path a mapped chunk must match. */
  static void runByReads(Named source, Named target, ConvertOptions options, Progress progress) throws IOException {
    new Convert(source, target, options, -1, progress, false).copy();
  }

  /**
   * {@code qemu-img convert -B}: copies into {@code target}, whose backing image of {@code targetBackingSize} bytes
   * reads as the source's backing image does, only what the source's top layer defines: its data, and its zeroes
   * (as zero writes) where the target's backing image reaches. Ranges the top layer leaves to its backing image are
   * not written, whatever the target's backing image holds there, as qemu-img does. Otherwise as {@link #run}.
   */
  public static void runOverBacking(Named source, Named target, ConvertOptions options, long targetBackingSize,
      Progress progress) throws IOException {
    new Convert(source, target, options, targetBackingSize, progress, true).copy();
  }

  private void copy() throws IOException {
    BlockDevice dst = target.device();
    if (dst.capabilities().readOnly()) {
      throw new IOException("convert: target '" + target.name() + "' is read-only (expected: a writable target)");
    }
    if (options.compressed() && !dst.capabilities().compressedWrites().available()) {
      throw new IOException("convert: target '" + target.name()
          + "' cannot store compressed data (expected: a qcow2 target without an external data file)");
    }
    long targetSize = dst.size();
    if (targetSize < size) {
      throw new IOException("convert: target '" + target.name() + "' has " + targetSize
          + " bytes, the source has " + size + " (expected: a target at least as large as the source)");
    }
    // The progress total costs a walk of the whole source's block status before the copy: only for a listener.
    if (progress != Progress.NONE) {
      work = countWork();
      progress.update(0, work);
    }
    List<Thread> threads = new ArrayList<>();
    try {
      for (int i = 0; i < options.workers(); i++) {
        threads.add(Thread.ofPlatform().name("convert-" + i).start(this::workerLoop));
      }
      for (Thread t : threads) {
        t.join();
      }
    } catch (InterruptedException e) {
      threads.forEach(Thread::interrupt);
      fail(new InterruptedIOException("convert: interrupted"));
      Thread.currentThread().interrupt();
    } finally {
      if (windows != null) {
        windows.close();
      }
    }
    if (failure != null) {
      throw failure;
    }
    try {
      dst.flush();
    } catch (IOException e) {
      throw new IOException("error while flushing '" + target.name() + "': " + e.getMessage(), e);
    }
  }

  /**
   * One chunk of the copy; {@code kept}: left to the target's backing image, nothing written. {@code layer}: the layer
   * of the source's chain whose bytes the chunk's are (the source itself, or the backing image that defines them), to
   * map them from.
   */
  private record Chunk(long offset, int length, boolean data, boolean kept, BlockDevice layer) {
    long end() {
      return offset + length;
    }
  }

  /**
   * Bytes that will be copied as data (qemu-img's allocated_sectors): the progress total, walked only when someone
   * listens ({@link Progress#NONE} does not).
   */
  private long countWork() throws IOException {
    long total = 0;
    long pos = 0;
    try {
      ChainWalker counter = walker();
      while (pos < size) {
        BlockStatus s = counter.at(pos);
        if (keptByBacking(s, pos)) {
          pos = s.end();
          continue;
        }
        if (!s.zero() || scanner == null) {
          total += s.length();
        }
        pos = s.end();
      }
    } catch (IOException e) {
      throw statusFailed(pos, e);
    }
    return total;
  }

  private void workerLoop() {
    // Made at the first chunk that is read or zero-filled: a worker whose chunks are all mapped never needs it, and
    // a direct buffer is zeroed and faulted in when it is made (2 MiB per worker).
    ByteBuffer buf = null;
    while (true) {
      Chunk c;
      lock.lock();
      try {
        if (failure != null || next >= size) {
          return;
        }
        c = plan();
        next = c.end();
      } catch (IOException e) {
        failLocked(statusFailed(next, e));
        return;
      } finally {
        lock.unlock();
      }
      MappedChunk mapped = null;
      try {
        ByteBuffer bytes = null; // stays null for a zero chunk: write() zeroes it without bytes
        int[] runs = null;
        try {
          if (c.data()) {
            mapped = windows != null ? map(c) : null;
            if (mapped != null) {
              bytes = mapped.bytes();
            } else {
              buf = buf != null ? buf : DirectBuffers.aligned(options.bufferSize());
              read(c, buf);
              bytes = buf;
            }
          } else if (scanner == null && !c.kept()) {
            buf = buf != null ? buf : DirectBuffers.aligned(options.bufferSize());
            zeroFill(buf, c.length());
            bytes = buf;
          }
          // Scanned before the turn: the in-order writes are the copy's one serial path, the scan (and the faults that
          // map the source's pages) can overlap the write before.
          // An offloaded chunk is copied whole, unscanned (as qemu-img -C copies); scanned in write() if the copy is
          // refused.
          runs = c.data() && scanner != null && unit == 0 && !(kernelCopy && mapped != null)
              ? scanner.runs(bytes, c.length(), c.offset() / SparseScanner.SECTOR) : null;
        } catch (IOException | RuntimeException | InternalError e) {
          failChunk(c, mapped, e);
          return;
        }
        Runnable write = writeOf(c, bytes, runs, mapped);
        if (options.inOrder()) {
          writes.run(c.offset(), c.end(), write);
        } else {
          write.run();
        }
      } finally {
        if (mapped != null) {
          mapped.close();
        }
      }
    }
  }

  /**
   * The write of a prepared chunk, which {@link InOrderWrites} may run on another worker's thread: it fails the copy
   * rather than throw, and writes nothing once the copy has failed.
   */
  private Runnable writeOf(Chunk c, ByteBuffer bytes, int[] runs, MappedChunk mapped) {
    return () -> {
      try {
        if (failure == null && !c.kept()) {
          write(c, bytes, runs, mapped);
          if (c.data() || scanner == null) {
            reportDone(c.length());
          }
        }
      } catch (IOException | RuntimeException | InternalError e) {
        failChunk(c, mapped, e);
      }
    };
  }

  /**
   * Stops the copy for the failure of chunk {@code c}: a fault on its mapping ({@link InternalError} where Java code
   * read it; a failed write from a mapping whose file was cut short under it, EFAULT) is the source's, not the
   * target's. Another InternalError (not from a mapping) is rethrown after the copy is stopped.
   */
  private void failChunk(Chunk c, MappedChunk mapped, Throwable e) {
    switch (e) {
      case InternalError error when mapped == null -> {
        fail(new IOException("convert: " + error, error));
        throw error;
      }
      case InternalError error -> fail(MappedChunk.readError(source.name(), c.offset(), error));
      case IOException io when mapped != null && mapped.cutShort() ->
          fail(MappedChunk.readError(source.name(), c.offset(), io));
      case IOException io -> fail(io);
      default -> fail(new IOException("convert: " + e, e));
    }
  }

  /** qemu-img's convert_iteration_sectors: the next chunk, within one status run and one buffer. */
  private Chunk plan() throws IOException {
    if (walker == null) {
      walker = walker();
    }
    if (status == null || status.end() <= next) {
      status = walker.at(next);
    }
    boolean data = !status.zero();
    long n = status.end() - next;
    if (targetBacking > next) {
      // qemu-img splits at the end of the target's backing image: zeroes past it need no writing.
      n = Math.min(n, targetBacking - next);
    }
    if (keptByBacking(status, next)) {
      return new Chunk(next, (int) Math.min(n, Integer.MAX_VALUE & ~(SparseScanner.SECTOR - 1)), false, true,
          source.device());
    }
    if (data || scanner == null) {
      n = Math.min(n, options.bufferSize());
    } else {
      n = Math.min(n, Integer.MAX_VALUE & ~(SparseScanner.SECTOR - 1));
    }
    if (unit > 0) {
      // qemu-img -c: a zero run shorter than a unit goes out as data with the unit around it; longer runs, and data,
      // are cut to whole units.
      if (n < unit) {
        n = Math.min(unit, size - next);
        data = true;
      } else {
        n -= n % unit;
      }
    }
    // A chunk inside the status run has the bytes of the layer that defines the run; one that a compression unit
    // stretched past the run is mapped, if at all, through the whole chain.
    BlockDevice layer = data && next + n <= status.end() ? layer(status.depth()) : source.device();
    return new Chunk(next, (int) n, data, false, layer);
  }

  /**
   * Layer {@code depth} of the source's chain: 0 the source itself, 1 its backing image, and so on. A data run that a
   * backing image defines is mapped from that image's file (raw, qcow2 data clusters), as qemu-img -C copies it
   * from there, where the source itself has no host range for it.
   */
  private BlockDevice layer(int depth) {
    if (layers == null) {
      layers = ImageChain.of(source.device()).layers();
    }
    return depth < layers.size() ? layers.get(depth).device() : source.device();
  }

  /** The status walk: through the whole chain, or over the top layer only with {@code -B}. */
  private ChainWalker walker() throws IOException {
    return ChainWalker.of(source.device(), targetBacking < 0 ? ChainWalker.Mode.ABOVE : ChainWalker.Mode.TOP);
  }

  /**
   * With {@code -B}, qemu-img's BLK_BACKING_FILE: the top layer leaves the range to its backing image, or it reads
   * as zeroes past the end of the target's backing image (where the target reads zeroes too).
   */
  private boolean keptByBacking(BlockStatus s, long at) {
    return targetBacking >= 0 && (!s.zero() && !s.data() || s.zero() && at >= targetBacking);
  }

  private IOException statusFailed(long offset, IOException e) {
    return new IOException("error while reading block status of '" + source.name() + "' at byte " + offset + ": "
        + e.getMessage(), e);
  }

  /** The chunk's source bytes through a mapping of their host file, or null where they must be read. */
  private MappedChunk map(Chunk c) throws IOException {
    try {
      // With -C while the target takes kernel copies, a range not in the page cache is mapped too: the kernel's copy
      // reads it (qemu-img -C copies it whole, where a read would scan it).
      return windows.map(c.layer(), c.offset(), c.length(), kernelCopy);
    } catch (IOException e) {
      throw new IOException("error while reading '" + source.name() + "' at byte " + c.offset() + ": " + e.getMessage(), e);
    }
  }

  private void read(Chunk c, ByteBuffer buf) throws IOException {
    try {
      source.device().read(c.offset(), buf.clear().limit(c.length()));
    } catch (IOException e) {
      if (!options.salvage()) {
        throw new IOException("error while reading '" + source.name() + "' at byte " + c.offset() + ": " + e.getMessage(), e);
      }
      salvage(c, buf);
    }
  }

  /**
   * qemu-img's --salvage: the chunk read again a sector at a time, zeroes for each sector that still fails, and a
   * warning for it. Leaves {@code buf} as a read does: position and limit at the chunk's length.
   */
  private void salvage(Chunk c, ByteBuffer buf) throws IOException {
    for (int pos = 0; pos < c.length(); pos += SparseScanner.SECTOR) {
      ByteBuffer sector = buf.slice(pos, Math.min(SparseScanner.SECTOR, c.length() - pos));
      try {
        source.device().read(c.offset() + pos, sector);
      } catch (InterruptedIOException e) {
        throw e;
      } catch (IOException e) {
        zeroFill(sector, sector.capacity());
        System.getLogger(Convert.class.getName()).log(System.Logger.Level.WARNING, "error while reading offset "
            + (c.offset() + pos) + " of '" + source.name() + "': " + e.getMessage());
      }
    }
    buf.limit(c.length()).position(c.length());
  }

  private static void zeroFill(ByteBuffer buf, int length) {
    buf.clear().limit(length);
    while (buf.hasRemaining()) {
      buf.put((byte) 0);
    }
  }

  /**
   * qemu-img's convert_co_write: data runs written, zero runs skipped on a zero target or zeroed. {@code runs}: a data
   * chunk's {@link SparseScanner#runs} where there is a scanner and no compression, else null; null too for a chunk
   * to offload ({@code mapped}, its mapping, with {@code -C}), which is scanned here if the target refuses the copy.
   */
  private void write(Chunk c, ByteBuffer buf, int[] runs, MappedChunk mapped) throws IOException {
    BlockDevice dst = target.device();
    long at = c.offset();
    try {
      if (scanner == null) {
        dst.write(at, buf.clear().limit(c.length()), unit > 0 ? COMPRESSED : Set.of());
        return;
      }
      if (!c.data()) {
        zeroes(at, c.length());
        return;
      }
      if (unit > 0) {
        // qemu-img copies compressed data one unit at a time and does not write a unit of zeroes: runs of units
        // that are not all zeroes go out as one compressed write each.
        int pos = 0;
        while (pos < c.length()) {
          boolean zero = SparseScanner.isZero(buf, pos, Math.min(unit, c.length() - pos));
          int end = pos;
          while (end < c.length() && SparseScanner.isZero(buf, end, Math.min(unit, c.length() - end)) == zero) {
            end += Math.min(unit, c.length() - end);
          }
          at = c.offset() + pos;
          if (zero) {
            zeroes(at, end - pos);
          } else {
            dst.write(at, buf.slice(pos, end - pos), COMPRESSED);
          }
          pos = end;
        }
        return;
      }
      if (runs == null) {
        if (copied(at, mapped)) {
          return;
        }
        runs = scanner.runs(buf, c.length(), c.offset() / SparseScanner.SECTOR);
      }
      int pos = 0;
      for (int run : runs) {
        int bytes = Math.min(Math.abs(run) * SparseScanner.SECTOR, c.length() - pos);
        at = c.offset() + pos;
        if (run > 0) {
          dst.write(at, buf.slice(pos, bytes), Set.of());
        } else {
          zeroes(at, bytes);
        }
        pos += bytes;
      }
    } catch (IOException e) {
      throw new IOException("error while writing '" + target.name() + "' at byte " + at + ": " + e.getMessage(), e);
    }
  }

  /**
   * {@code -C}: copies a mapped chunk's bytes from its host file into the target's in the kernel where the target
   * can ({@link BlockDevice#writeFrom}: a raw file in the page cache). False where the caller must write them; after
   * a target's first refusal it is not asked again.
   */
  private boolean copied(long at, MappedChunk mapped) throws IOException {
    if (mapped == null || !kernelCopy) {
      return false;
    }
    if (target.device().writeFrom(at, mapped.range())) {
      return true;
    }
    kernelCopy = false;
    return false;
  }

  private void zeroes(long offset, long length) throws IOException {
    if (!options.targetIsZero()) {
      target.device().writeZeroes(offset, length, MAY_TRIM);
    }
  }

  private void reportDone(long bytes) {
    if (progress == Progress.NONE) {
      return;
    }
    synchronized (progressLock) {
      done += bytes;
      progress.update(done, work);
    }
  }

  private void fail(IOException e) {
    lock.lock();
    try {
      failLocked(e);
    } finally {
      lock.unlock();
    }
  }

  private void failLocked(IOException e) {
    if (failure == null) {
      failure = e;
    }
    writes.stop();
  }
}
