package dev.vdisk.ops.internal;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A chunk of a convert's source seen through a read-only mapping of the host file that holds its bytes verbatim
 * ({@link dev.vdisk.block.BlockDevice#hostRanges}: raw files, qcow2 data clusters), so that the zero scan reads the
 * source's page cache in place and the target's write copies from it once, where a {@code pread} into a buffer would
 * copy every byte out of the page cache first. A slice of a window of {@link MappedWindows}; closing the chunk lets the
 * window go.
 *
 * <p>A file truncated under the mapping faults on access: the JDK throws {@link InternalError}, which
 * {@link #readError} turns into an IOException.
 */
final class MappedChunk implements AutoCloseable {
  private final MappedWindows owner;
  private final MappedWindows.Window window;
  private final ByteBuffer bytes;
  private boolean closed;

  MappedChunk(MappedWindows owner, MappedWindows.Window window, ByteBuffer bytes) {
    this.owner = owner;
    this.window = window;
    this.bytes = bytes;
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

  /** Releases the chunk's window; again does nothing. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      owner.release(window);
    }
  }
}
