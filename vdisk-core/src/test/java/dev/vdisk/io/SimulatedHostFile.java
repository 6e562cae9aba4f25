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
 */
public final class SimulatedHostFile implements FileIo, HostFile {
  private static final int S_IFREG_0644 = 0100644;

  private final BlockDevice disk;
  private final int alignment;
  private final boolean direct;

  private SimulatedHostFile(BlockDevice disk, int alignment, boolean direct) {
    this.disk = disk;
    this.alignment = alignment;
    this.direct = direct;
  }

  /**
   * A FileDevice (no locks taken) on {@code disk}, a file system of {@code alignment}-byte blocks, opened as
   * {@code options} say. Closing it leaves {@code disk} open.
   *
   * @param name the file name its messages show
   */
  public static FileDevice fileDevice(BlockDevice disk, String name, FileOptions options, int alignment)
      throws IOException {
    SimulatedHostFile file = new SimulatedHostFile(disk, alignment, options.cache().direct());
    return FileDevice.onHost(Path.of(name), options, file, file);
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

  @Override
  public void fdatasync() throws IOException {
    disk.flush();
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
