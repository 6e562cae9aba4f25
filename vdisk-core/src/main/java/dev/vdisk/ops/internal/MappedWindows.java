package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.HostRange;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One convert's read-only mappings of its source's host files, in windows of {@link #WINDOW} bytes that the chunks
 * share: a chunk is a slice of its window, where a mapping of its own would cost an mmap, an fstat and an munmap (with
 * its TLB shootdown on every core that ran a worker) per chunk. Window {@code k} of a file covers its bytes from
 * {@code k * WINDOW} to {@code (k + 1) * WINDOW + slack}, so that every chunk of at most {@code slack} bytes lies in
 * the window it starts in.
 *
 * <p>A window stays mapped while a chunk uses it or while it is its file's latest window (chunks go forward, so the
 * next chunk is most likely in it); {@link #close} unmaps what is left, after the workers have finished. Windows are
 * mapped in shared arenas: workers on every thread read them. Thread-safe.
 */
final class MappedWindows implements AutoCloseable {
  /** Bytes per window: few enough mappings for any file, small enough that a window is no burden on the host. */
  static final long WINDOW = 256L << 20;
  /** Host offsets must keep the guest offset's page alignment, as the workers' aligned buffers do (O_DIRECT targets). */
  private static final int PAGE = 4096;

  private final long slack;
  /** Guarded by this: the mapped windows of each file, by index. */
  private final Map<FileChannel, Map<Long, Window>> windows = new HashMap<>();
  /** Guarded by this: each file's most recently mapped window. */
  private final Map<FileChannel, Window> latest = new HashMap<>();
  private boolean closed;

  /** @param slack the longest chunk to be mapped, page-aligned; longer ones are read instead */
  MappedWindows(long slack) {
    this.slack = Math.ceilDiv(slack, PAGE) * PAGE;
  }

  /** A mapped window of one file, and the chunks that use it now (guarded by the {@link MappedWindows}). */
  static final class Window {
    private final FileChannel channel;
    private final long index;
    private final long start;
    private final Arena arena;
    private final MemorySegment bytes;
    private int users;

    /** The mapped file. */
    FileChannel channel() {
      return channel;
    }

    private Window(FileChannel channel, long index, long start, Arena arena, MemorySegment bytes) {
      this.channel = channel;
      this.index = index;
      this.start = start;
      this.arena = arena;
      this.bytes = bytes;
    }
  }

  /**
   * The mapping of {@code source}'s {@code [offset, offset + length)}, or null where the range is not one page-aligned
   * range of one host file, is not all in the page cache (unless {@code uncached}), is longer than the slack, or its
   * file cannot be mapped there (shorter than the range, say): the caller reads it instead. Uncached ranges are read
   * because a fault on a mapping reads ahead in small steps (the device's read-ahead window) where one 2 MiB {@code
   * pread} asks the disk for the whole chunk; {@code uncached}: map them too, for a caller that has the kernel copy the
   * range from file to file ({@link MappedChunk#range}), which reads the file itself. The chunk must be closed.
   */
  MappedChunk map(BlockDevice source, long offset, int length, boolean uncached) throws IOException {
    List<HostRange> ranges = source.hostRanges(offset, length);
    if (ranges.size() != 1 || ranges.getFirst().position() % PAGE != 0 || ranges.getFirst().length() > slack
        || !(uncached || ranges.getFirst().cached())) {
      return null;
    }
    HostRange r = ranges.getFirst();
    Window w = acquire(r.channel(), r.position(), r.length());
    if (w == null) {
      return null;
    }
    return new MappedChunk(this, w, w.bytes.asSlice(r.position() - w.start, r.length()).asByteBuffer(), r);
  }

  /** The window that holds the range, mapped now if it is not, with one more user; null if it cannot be mapped. */
  private synchronized Window acquire(FileChannel channel, long position, long length) {
    if (closed) {
      throw new IllegalStateException("mapped windows: closed (expected: chunks mapped before close)");
    }
    long index = position / WINDOW;
    Map<Long, Window> mine = windows.computeIfAbsent(channel, c -> new HashMap<>());
    Window w = mine.get(index);
    if (w == null) {
      w = mapWindow(channel, index, position + length);
      if (w == null) {
        return null;
      }
      mine.put(index, w);
      Window before = latest.put(channel, w);
      if (before != null && before.users == 0) {
        unmap(before);
      }
    }
    w.users++;
    return w;
  }

  /** Window {@code index} of the file, up to its end; null if the file ends before {@code needed} or cannot be mapped. */
  private Window mapWindow(FileChannel channel, long index, long needed) {
    Arena arena = Arena.ofShared();
    try {
      long start = index * WINDOW;
      long length = Math.min(WINDOW + slack, channel.size() - start);
      if (start + length < needed) {
        arena.close();
        return null;
      }
      return new Window(channel, index, start, arena, channel.map(FileChannel.MapMode.READ_ONLY, start, length, arena));
    } catch (IOException | RuntimeException e) {
      // The copy path reads the range and reports what is wrong with it.
      arena.close();
      return null;
    }
  }

  /**
   * A chunk of {@code w} is done: the window is unmapped if no chunk uses it and a later one has been mapped (or
   * {@link #close} has run: a worker that outlived an interrupted convert lets its window go last).
   */
  synchronized void release(Window w) {
    w.users--;
    if (w.users == 0 && (closed || latest.get(w.channel) != w)) {
      unmap(w);
    }
  }

  private void unmap(Window w) {
    windows.get(w.channel).remove(w.index);
    w.arena.close();
  }

  /** Unmaps every window no chunk uses; the others go when their last chunk is closed. No chunk is mapped after. */
  @Override
  public synchronized void close() {
    closed = true;
    latest.clear();
    List<Window> idle = new ArrayList<>();
    windows.values().forEach(m -> m.values().stream().filter(w -> w.users == 0).forEach(idle::add));
    idle.forEach(this::unmap);
  }
}
