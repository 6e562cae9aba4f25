package dev.vdisk.io.linux;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The calls that move or reserve a host file's data, as QEMU's aio modes make them: positional reads and writes,
 * fdatasync and fallocate. Implementations are thread-safe and take any buffer; O_DIRECT's alignment rules are the
 * caller's business.
 */
public interface FileIo extends Closeable {
  /**
   * Reads into {@code dst} from {@code position}, as {@link java.nio.channels.FileChannel#read(ByteBuffer, long)}.
   *
   * @return bytes read (the buffer's position moved by as many), or -1 at end of file
   */
  int read(ByteBuffer dst, long position) throws IOException;

  /** Writes from {@code src} at {@code position}; returns the bytes written (the buffer's position moved by as many). */
  int write(ByteBuffer src, long position) throws IOException;

  /** fdatasync: every write that completed before this call is durable when it returns. */
  void fdatasync() throws IOException;

  /** fallocate(2) over {@code [offset, offset + length)}. */
  void fallocate(FallocateMode mode, long offset, long length) throws IOException;
}
