package dev.vdisk.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * How {@link FileDevice} moves bytes through its {@link dev.vdisk.io.linux.FileIo} (the JDK channel or io_uring): straight ({@link BufferedPath}) or with
 * O_DIRECT's alignment rules met by bouncing ({@link DirectPath}). Both are thread-safe, and both read
 * zeroes past EOF.
 */
interface DataPath {
  /** Fills {@code dst} from {@code offset}; bytes past EOF read as zeroes. */
  void read(long offset, ByteBuffer dst) throws IOException;

  /** Writes all of {@code src} at {@code offset}. */
  void write(long offset, ByteBuffer src) throws IOException;

  /**
   * Runs a change of {@code [offset, offset + length)} made outside the channel (fallocate, an ioctl) so that
   * it is ordered against concurrent writes as a write would be.
   *
   * @return what {@code change} returned
   */
  boolean mutate(long offset, long length, Mutation change) throws IOException;

  /** A change made by other means than a channel write. */
  @FunctionalInterface
  interface Mutation {
    /** Returns true if it did the job, false if the caller must fall back to something else. */
    boolean run() throws IOException;
  }

  /** Fills the rest of {@code buf} with zeroes and moves its position to its limit. */
  static void zeroRest(ByteBuffer buf) {
    if (buf.hasRemaining()) {
      MemorySegment.ofBuffer(buf).fill((byte) 0);
      buf.position(buf.limit());
    }
  }
}
