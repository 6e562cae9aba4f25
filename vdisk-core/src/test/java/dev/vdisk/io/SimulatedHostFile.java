package dev.vdisk.io;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.io.linux.FallocateMode;
import dev.vdisk.io.linux.FileIo;
import dev.vdisk.io.linux.FileStat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A host file whose bytes are a {@link BlockDevice} (a {@code CrashingDevice}, say), with O_DIRECT's rules as the JDK
 * and the kernel enforce them: {@link #fileDevice} puts a real {@link FileDevice}, its alignment, bounce buffers,
 * read-modify-writes and flushes included, on a disk that can lose power, which no host file can.
 *
 * <p>Under a direct cache mode every read and write must start and end on the alignment and a direct buffer must
 * start on it; otherwise the call fails with EINVAL as the JDK's direct channel does, so a FileDevice that got its
 * alignment wrong fails here as on a real file system. fdatasync is the disk's flush, so on a {@code CrashingDevice}
 * only what a flush covered survives. fallocate's hole punching and zeroing are the disk's zeroing (never FUA).
 * Reads stop at the disk's end (-1 there), writes past it grow it, as a file's do.
 *
 * <p>Without O_DIRECT a failed flush of the disk is a failed write-back of the page cache, reported as Linux reports
 * it: recorded once for the file ({@code mapping->wb_err}) and returned by the next fdatasync of each open file
 * description, the data path and every {@link #openSyncDescriptor} apart, as a cursor of its own sees it. An fdatasync
 * first waits for a write-back that another one has under way, and then makes its own (the disk's flush), one at a
 * time; its error check comes after both, as {@code file_write_and_wait_range}'s does.
 */
public final class SimulatedHostFile implements FileIo, HostFile {
  private static final int S_IFREG_0644 = 0100644;

  private final BlockDevice disk;
  private final int alignment;
  private final boolean direct;
  /** Called by each fdatasync between its write-back and its error check: where a test holds one. */
  private final Runnable beforeErrorCheck;
  /** Guards the fields below, the page cache's state, and the descriptors' state. */
  private final Object pageCache = new Object();
  /** The data path's cursor. */
  private final Descriptor dataPath = new Descriptor();
  /** Whether two fdatasyncs ever ran on one descriptor at once. */
  private boolean descriptorShared;
  private boolean writingBack;
  /** Failed write-backs so far: the counter of {@code wb_err}. */
  private long writebackErrors;
  private IOException lastWritebackError;
  /** Descriptors opened by {@link #openSyncDescriptor} and not closed yet, and opened in all. */
  private int openDescriptors;
  private int openedDescriptors;

  private SimulatedHostFile(BlockDevice disk, int alignment, boolean direct, Runnable beforeErrorCheck) {
    this.disk = disk;
    this.alignment = alignment;
    this.direct = direct;
    this.beforeErrorCheck = beforeErrorCheck;
  }

  /** An open file description's cursor into the write-back errors ({@code f_wb_err}), and its use. */
  private final class Descriptor implements SyncDescriptor {
    private long seenErrors;
    private boolean closed;
    /** Whether an fdatasync is running on it: two at once would race for one error report. */
    private boolean busy;

    Descriptor() {
      synchronized (pageCache) {
        seenErrors = writebackErrors; // simpler than errseq_sample, which would report an error nobody has seen
      }
    }

    @Override
    public void fdatasync() throws IOException {
      synchronized (pageCache) {
        if (closed) {
          throw new IOException("fdatasync on a closed descriptor");
        }
        descriptorShared |= busy;
        busy = true;
      }
      try {
        pageCacheFdatasync(this);
      } finally {
        synchronized (pageCache) {
          busy = false;
        }
      }
    }

    @Override
    public void close() {
      synchronized (pageCache) {
        if (!closed && this != dataPath) {
          openDescriptors--;
        }
        closed = true;
      }
    }
  }

  /**
   * A FileDevice (no locks taken) on {@code disk}, a file system of {@code alignment}-byte blocks, opened as
   * {@code options} say. Closing it leaves {@code disk} open.
   *
   * @param name the file name its messages show
   */
  public static FileDevice fileDevice(BlockDevice disk, String name, FileOptions options, int alignment)
      throws IOException {
    return create(disk, alignment, options, () -> { }).fileDevice(name, options);
  }

  /**
   * A simulated host file on {@code disk} (not yet a device: see {@link #fileDevice(String, FileOptions)}) whose
   * fdatasyncs call {@code beforeErrorCheck} between their write-back and their error check.
   */
  public static SimulatedHostFile create(BlockDevice disk, int alignment, FileOptions options,
      Runnable beforeErrorCheck) {
    return new SimulatedHostFile(disk, alignment, options.cache().direct(), beforeErrorCheck);
  }

  /** A FileDevice (no locks taken) on this file, opened as {@code options} say; one per file. */
  public FileDevice fileDevice(String name, FileOptions options) throws IOException {
    return FileDevice.onHost(Path.of(name), options, this, this);
  }

  /** Descriptors from {@link #openSyncDescriptor} not closed yet. */
  public int openSyncDescriptors() {
    synchronized (pageCache) {
      return openDescriptors;
    }
  }

  /** Descriptors {@link #openSyncDescriptor} has opened in all. */
  public int openedSyncDescriptors() {
    synchronized (pageCache) {
      return openedDescriptors;
    }
  }

  /** Whether two fdatasyncs ever ran on one descriptor at once. */
  public boolean descriptorShared() {
    synchronized (pageCache) {
      return descriptorShared;
    }
  }

  @Override
  public SyncDescriptor openSyncDescriptor() {
    synchronized (pageCache) {
      openDescriptors++;
      openedDescriptors++;
    }
    return new Descriptor();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    requireDirectRules("read", dst, position);
    long size = disk.size();
    if (position >= size) {
      return -1;
    }
    int n = (int) Math.min(dst.remaining(), size - position);
    disk.read(position, dst.slice(dst.position(), n));
    dst.position(dst.position() + n);
    return n;
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    requireDirectRules("write", src, position);
    int n = src.remaining();
    disk.write(position, src.slice(), Set.of());
    src.position(src.limit());
    return n;
  }

  /** What the JDK checks before a direct read or write (then the kernel would refuse with EINVAL). */
  private void requireDirectRules(String call, ByteBuffer buf, long position) throws IOException {
    if (!direct) {
      return;
    }
    if (position % alignment != 0 || buf.remaining() % alignment != 0
        || buf.isDirect() && buf.alignmentOffset(buf.position(), alignment) != 0) {
      throw new IOException(call + " at " + position + " of " + buf.remaining() + " bytes"
          + (buf.isDirect() ? " from a buffer " + buf.alignmentOffset(buf.position(), alignment) + " bytes off" : "")
          + ": Invalid argument (O_DIRECT needs " + alignment + "-byte alignment)");
    }
  }

  /** O_DIRECT: the disk's flush and its error; else as {@linkplain SimulatedHostFile the class} says. */
  @Override
  public void fdatasync() throws IOException {
    if (direct) {
      disk.flush();
    } else {
      dataPath.fdatasync();
    }
  }

  private void pageCacheFdatasync(Descriptor descriptor) throws IOException {
    synchronized (pageCache) {
      boolean interrupted = false;
      while (writingBack) {
        try {
          pageCache.wait();
        } catch (InterruptedException e) {
          interrupted = true; // the fdatasync goes on, as a kernel's does
        }
      }
      writingBack = true;
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    IOException failed = null;
    try {
      disk.flush();
    } catch (IOException e) {
      failed = e;
    } finally {
      synchronized (pageCache) {
        writingBack = false;
        if (failed != null) {
          writebackErrors++;
          lastWritebackError = failed;
        }
        pageCache.notifyAll();
      }
    }
    beforeErrorCheck.run();
    synchronized (pageCache) {
      if (descriptor.seenErrors != writebackErrors) {
        descriptor.seenErrors = writebackErrors;
        throw new IOException(lastWritebackError.getMessage(), lastWritebackError);
      }
    }
  }

  @Override
  public void fallocate(FallocateMode mode, long offset, long length) throws IOException {
    long size = disk.size();
    switch (mode) {
      case PUNCH_HOLE, ZERO_RANGE_KEEP_SIZE -> {
        long end = Math.min(offset + length, size);
        if (end > offset) {
          disk.writeZeroes(offset, end - offset, Set.of());
        }
      }
      case ALLOCATE, ZERO_RANGE -> {
        if (offset + length > size) {
          disk.resize(offset + length);
        }
        if (mode == FallocateMode.ZERO_RANGE) {
          disk.writeZeroes(offset, length, Set.of());
        }
      }
      case ALLOCATE_KEEP_SIZE -> { }
    }
  }

  @Override
  public FileStat stat() throws IOException {
    long size = disk.size();
    long data = 0;
    for (long at = 0; at < size; ) {
      List<Extent> extents = disk.extents(at, size - at);
      for (Extent e : extents) {
        data += e.data() ? e.length() : 0;
      }
      at = extents.getLast().end();
    }
    return new FileStat(S_IFREG_0644, size, (data + 511) / 512);
  }

  @Override
  public void truncate(long size) throws IOException {
    disk.resize(size);
  }

  @Override
  public long seekData(long offset) throws IOException {
    return seek(offset, true);
  }

  @Override
  public long seekHole(long offset) throws IOException {
    long size = disk.size();
    if (offset >= size) {
      return -1;
    }
    long hole = seek(offset, false);
    return hole < 0 ? size : hole;
  }

  /** The first offset at or after {@code offset} whose bytes are (or are not) data, or -1 before EOF. */
  private long seek(long offset, boolean data) throws IOException {
    long size = disk.size();
    for (long at = offset; at < size; ) {
      List<Extent> extents = disk.extents(at, size - at);
      for (Extent e : extents) {
        if (e.data() == data) {
          return Math.max(e.offset(), offset);
        }
      }
      at = extents.getLast().end();
    }
    return -1;
  }

  @Override
  public long blockDeviceSize() {
    throw new UnsupportedOperationException("a simulated host file is a regular file");
  }

  @Override
  public int logicalSectorSize() {
    throw new UnsupportedOperationException("a simulated host file is a regular file");
  }

  @Override
  public void discardBlocks(long offset, long length) {
    throw new UnsupportedOperationException("a simulated host file is a regular file");
  }

  @Override
  public void zeroOutBlocks(long offset, long length) {
    throw new UnsupportedOperationException("a simulated host file is a regular file");
  }

  /** A simulated disk has no other users to lock out. */
  @Override
  public void lock(FileOptions options, boolean metadata) {}

  @Override
  public String fileSystemType() {
    return "simulated";
  }

  @Override
  public int fileSystemBlockSize() {
    return alignment;
  }

  /** The disk belongs to the caller of {@link #fileDevice}. */
  @Override
  public void close() {}
}
