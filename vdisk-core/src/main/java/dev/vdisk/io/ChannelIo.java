package dev.vdisk.io;

import dev.vdisk.io.linux.FallocateMode;
import dev.vdisk.io.linux.FileIo;
import dev.vdisk.io.linux.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.util.Set;

/**
 * {@code aio=threads}: the JDK's positional calls on the calling thread; fdatasync and fallocate on the native
 * descriptor. Closes the channel only; the native file belongs to the device.
 *
 * <p><b>Interrupts.</b> A JDK channel closes itself, for every thread, when a thread blocked in it is interrupted (a
 * cancelled task, a {@code StructuredTaskScope} shutting its subtasks down), and every later call on it fails. One
 * caller's interrupt must not close an image under all its users, so a read or write that finds the channel closed
 * while the device is open replaces it with a new channel on the same open file and runs again from its start (the
 * interrupted call may have moved the buffer's position; a positional read or write done twice has the effect of
 * one), with the caller's interrupt flag cleared for the retry and set again afterwards. The flush runs on the native
 * descriptor, which no interrupt closes: its result cannot be lost with a closed channel, and it stays the descriptor
 * opened with the device, before any write it answers for ({@link WritebackErrors} needs that).
 */
final class ChannelIo implements FileIo {
  /** Channels replaced in one call before it gives up: only a thread interrupted over and over gets near it. */
  private static final int MAX_REOPENS = 1000;

  private final NativeFile file;
  private final Set<? extends OpenOption> options;
  private volatile FileChannel channel;
  private volatile boolean closed;

  /**
   * @param channel the open data channel, owned from now on
   * @param options how it was opened (the same apply to a replacement)
   * @param file the same file's native descriptor, the device's
   */
  ChannelIo(FileChannel channel, Set<? extends OpenOption> options, NativeFile file) {
    this.channel = channel;
    this.options = Set.copyOf(options);
    this.file = file;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return transfer(dst, position, false);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    return transfer(src, position, true);
  }

  /** A positional read into or write from {@code buf}, again on a new channel where an interrupt closed the old one. */
  private int transfer(ByteBuffer buf, long position, boolean write) throws IOException {
    int start = buf.position();
    boolean interrupted = false;
    try {
      for (int reopens = 0; ; reopens++) {
        FileChannel c = channel;
        try {
          return write ? c.write(buf, position) : c.read(buf, position);
        } catch (ClosedChannelException e) {
          interrupted |= replace(c, e, reopens);
          buf.position(start);
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * After {@code broken} failed with {@code failure}: a new channel in its place (unless another thread made one
   * already), or {@code failure} again if the device is closed or this call replaced too many.
   *
   * @return whether the calling thread's interrupt flag was set (it is cleared, for the retry)
   */
  private boolean replace(FileChannel broken, ClosedChannelException failure, int reopens) throws IOException {
    if (closed || reopens >= MAX_REOPENS) {
      throw failure;
    }
    boolean interrupted = Thread.interrupted();
    synchronized (this) {
      if (closed) {
        throw failure;
      }
      if (channel == broken) {
        channel = file.reopenChannel(options);
      }
    }
    return interrupted;
  }

  @Override
  public void fdatasync() throws IOException {
    file.fdatasync();
  }

  @Override
  public void fallocate(FallocateMode mode, long offset, long length) throws IOException {
    file.fallocate(mode, offset, length);
  }

  /**
   * The JDK channel the bytes move through now (for {@link FileChannel#transferTo}): ask again for each use, since an
   * interrupt can have replaced it.
   */
  FileChannel channel() {
    return channel;
  }

  @Override
  public synchronized void close() throws IOException {
    closed = true;
    channel.close();
  }
}
