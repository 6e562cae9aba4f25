package dev.vdisk.io;

import dev.vdisk.io.linux.FileStat;
import java.io.Closeable;
import java.io.IOException;

/**
 * What {@link FileDevice} asks of its host file besides moving data (which goes through a
 * {@link dev.vdisk.io.linux.FileIo}): type, size and allocation, truncation, SEEK_DATA/SEEK_HOLE, block-device ioctls,
 * QEMU's image locks, and the file system's name and block size. In production this is always {@link LinuxHostFile}
 * (the FFM calls stay in {@code io.linux}); the interface exists so that the crash tests can put a
 * {@code FileDevice}, with its O_DIRECT alignment and bounce logic, on a simulated disk that loses unflushed writes.
 *
 * <p>None of these calls is on the read/write path. Implementations are thread-safe; errors are {@link IOException}s,
 * an unsupported operation an {@link dev.vdisk.io.linux.ErrnoException} whose {@code notSupported()} is true.
 */
interface HostFile extends Closeable {
  /** fstat(2): type, size and allocated blocks. */
  FileStat stat() throws IOException;

  /**
   * Starts writing the file's dirty pages back to storage without waiting (sync_file_range's WRITE): a later
   * fdatasync has less left to do. A hint that makes nothing durable; a host without a page cache does nothing.
   */
  default void startWriteback() throws IOException {}

  /**
   * Whether every page of {@code [offset, offset + length)} is in the host's page cache now: a hint for a caller that
   * must not wait for the disk (see {@link dev.vdisk.block.HostRange#cached}). False where the host cannot tell or has
   * no page cache, as the default says.
   */
  default boolean cached(long offset, long length) throws IOException {
    return false;
  }

  /**
   * Opens the file once more, read-only, as a new open file description (not a duplicate of one), whose only use is
   * fdatasync: see {@link WritebackErrors}. The caller closes it.
   */
  SyncDescriptor openSyncDescriptor() throws IOException;

  /** Sets the file size (sparse when growing). */
  void truncate(long size) throws IOException;

  /** The first offset at or after {@code offset} that holds data, or -1 if there is none before EOF. */
  long seekData(long offset) throws IOException;

  /** The first offset at or after {@code offset} that starts a hole (EOF counts), or -1 at or past EOF. */
  long seekHole(long offset) throws IOException;

  /** Block devices only: the size in bytes. */
  long blockDeviceSize() throws IOException;

  /** Block devices only: the logical sector size. */
  int logicalSectorSize() throws IOException;

  /** Block devices only: BLKDISCARD over whole logical sectors. */
  void discardBlocks(long offset, long length) throws IOException;

  /** Block devices only: BLKZEROOUT over whole logical sectors. */
  void zeroOutBlocks(long offset, long length) throws IOException;

  /** Takes QEMU's image locks for an open with {@code options} ({@link ImageLock#acquire}). */
  void lock(FileOptions options, boolean metadata) throws IOException;

  /** The name of the file system holding the file ("ext4", "xfs", "tmpfs"), for messages and XFS's read rule. */
  String fileSystemType() throws IOException;

  /** The file system's block size: O_DIRECT's alignment for a regular file. */
  int fileSystemBlockSize() throws IOException;
}
