package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.HostRange;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.List;

/**
 * A chunk of a convert's source seen through a read-only mapping of the host file that holds its bytes verbatim
 * ({@link BlockDevice#hostRanges}: raw files, qcow2 data clusters), so that the zero scan reads the source's page
 * cache in place and the target's write copies from it once, where a {@code pread} into a buffer would copy every
 * byte out of the page cache first. The mapping is unmapped when the chunk is closed.
 *
 * <p>Only the worker thread that maps a chunk may read it or pass it to a write (the mapping's arena is confined).
 * A file truncated under the mapping faults on access: the JDK throws {@link InternalError}, which {@link #readError}
 * turns into an IOException.
 */
final class MappedChunk implements AutoCloseable {
  /** Host offsets must keep the guest offset's page alignment, as the workers' aligned buffers do (O_DIRECT targets). */
  private static final int PAGE = 4096;

  private final Arena arena;
  private final ByteBuffer bytes;

  private MappedChunk(Arena arena, ByteBuffer bytes) {
    this.arena = arena;
    this.bytes = bytes;
  }

  /**
   * The mapping of {@code source}'s {@code [offset, offset + length)}, or null where the range is not one page-aligned
   * range of one host file, is not all in the page cache, or the file cannot be mapped (shorter than the range, say):
   * the caller reads it instead. Uncached ranges are read because a fault on a mapping reads ahead in small steps
   * (the device's read-ahead window) where one 2 MiB {@code pread} asks the disk for the whole chunk.
   */
  static MappedChunk map(BlockDevice source, long offset, int length) throws IOException {
    List<HostRange> ranges = source.hostRanges(offset, length);
    if (ranges.size() != 1 || ranges.getFirst().position() % PAGE != 0 || !ranges.getFirst().cached()) {
      return null;
    }
    HostRange r = ranges.getFirst();
    Arena arena = Arena.ofConfined();
    try {
      return new MappedChunk(arena, r.channel().map(FileChannel.MapMode.READ_ONLY, r.position(), r.length(), arena)
          .asByteBuffer());
    } catch (IOException | RuntimeException e) {
      // The copy path reads the range and reports what is wrong with it.
      arena.close();
      return null;
    }
  }

  /** The chunk's bytes, position 0 and limit its length; read-only, valid until {@link #close}. */
  ByteBuffer bytes() {
    return bytes;
  }

  /** The IOException for a fault on the mapping (the file shrank under it). */
  static IOException readError(String source, long offset, InternalError e) {
    return new IOException("error while reading '" + source + "' at byte " + offset
        + ": the file changed under a read (expected: a source no other process truncates)", e);
  }

  /** Unmaps the chunk. */
  @Override
  public void close() {
    arena.close();
  }
}
