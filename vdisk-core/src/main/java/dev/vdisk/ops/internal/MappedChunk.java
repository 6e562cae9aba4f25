package dev.vdisk.ops.internal;

import dev.vdisk.block.HostRange;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A chunk of a convert's source seen through a read-only mapping of the host file that holds its bytes verbatim
 * ({@link dev.vdisk.block.BlockDevice#hostRanges}: raw files, qcow2 data clusters), so that the zero scan reads the
 * source's page cache in place and the target's write copies from it once, where a {@code pread} into a buffer would
 * copy every byte out of the page cache first. A slice of a window of {@link MappedWindows}; closing the chunk lets the
 * window go.
 *
 * <p>A file truncated under the mapping faults on access: the JDK throws {@link InternalError} where Java code reads
 * the mapping, and a write from it fails with EFAULT; {@link #readError} turns either into an IOException that names
 * the source, once {@link #cutShort} has told the two causes of a failed write apart.
 */
final class MappedChunk implements AutoCloseable {
  private final MappedWindows owner;
  private final MappedWindows.Window window;
  private final ByteBuffer bytes;
  /** Where the chunk's bytes sit in the host file. */
  private final HostRange range;
  private boolean closed;

  MappedChunk(MappedWindows owner, MappedWindows.Window window, ByteBuffer bytes, HostRange range) {
    this.owner = owner;
    this.window = window;
    this.bytes = bytes;
    this.range = range;
  }

  /**
   * The chunk's bytes in the host file, for a target that copies them from file to file ({@link
   * dev.vdisk.block.BlockDevice#writeFrom}).
   */
  HostRange range() {
    return range;
  }

  /** The chunk's bytes, position 0 and limit its length; read-only, valid until {@link #close}. */
  ByteBuffer bytes() {
    return bytes;
  }

  /**
   * Whether the host file now ends before the chunk does: then a write from the chunk that failed (EFAULT) failed on
   * the source's side, not the target's.
   */
  boolean cutShort() {
    try {
      return window.channel().size() < range.position() + range.length();
    } catch (IOException e) {
      return false;
    }
  }

  /** The IOException for a fault on the mapping (the file shrank under it). */
  static IOException readError(String source, long offset, Throwable e) {
    return new IOException("error while reading '" + source + "' at byte " + offset
        + ": the file changed under a read (expected: a source no other process truncates)", e);
  }

  /** Releases the chunk's window; again does nothing. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      owner.release(window);
    }
  }
}
