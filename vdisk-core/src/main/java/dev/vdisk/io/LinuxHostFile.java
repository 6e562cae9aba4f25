package dev.vdisk.io;

import dev.vdisk.io.linux.FileStat;
import dev.vdisk.io.linux.NativeFile;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;

/** A real host file: {@link NativeFile}'s descriptor for the calls, the JDK's {@link FileStore} for its file system. */
final class LinuxHostFile implements HostFile {
  private final NativeFile file;
  private final FileStore store;

  LinuxHostFile(NativeFile file) throws IOException {
    this.file = file;
    this.store = Files.getFileStore(file.path());
  }

  /** The descriptor, for the channel's fallocate under {@code aio=threads}. */
  NativeFile nativeFile() {
    return file;
  }

  @Override
  public FileStat stat() throws IOException {
    return file.stat();
  }

  @Override
  public void startWriteback() throws IOException {
    file.startWriteback(0, 0);
  }

  @Override
  public boolean cached(long offset, long length) throws IOException {
    return file.cached(offset, length);
  }

  /**
   * A read-only descriptor of the path the file was opened by, opened right after it (as the data channel is):
   * fdatasync needs no write access on Linux. A native one, not a JDK channel, so that an interrupt of the flushing
   * thread neither loses the call's result nor closes the descriptor (which would fail every later flush). A regular
   * file or a block device alike.
   */
  @Override
  public SyncDescriptor openSyncDescriptor() throws IOException {
    NativeFile descriptor = NativeFile.open(file.path(), false);
    return new SyncDescriptor() {
      @Override
      public void fdatasync() throws IOException {
        descriptor.fdatasync();
      }

      @Override
      public void close() throws IOException {
        descriptor.close();
      }
    };
  }

  @Override
  public void truncate(long size) throws IOException {
    file.truncate(size);
  }

  @Override
  public long seekData(long offset) throws IOException {
    return file.seekData(offset);
  }

  @Override
  public long seekHole(long offset) throws IOException {
    return file.seekHole(offset);
  }

  @Override
  public long blockDeviceSize() throws IOException {
    return file.blockDeviceSize();
  }

  @Override
  public int logicalSectorSize() throws IOException {
    return file.logicalSectorSize();
  }

  @Override
  public void discardBlocks(long offset, long length) throws IOException {
    file.discardBlocks(offset, length);
  }

  @Override
  public void zeroOutBlocks(long offset, long length) throws IOException {
    file.zeroOutBlocks(offset, length);
  }

  @Override
  public void lock(FileOptions options, boolean metadata) throws IOException {
    ImageLock.acquire(file, options, metadata);
  }

  @Override
  public String fileSystemType() {
    return store.type();
  }

  @Override
  public int fileSystemBlockSize() throws IOException {
    return (int) store.getBlockSize();
  }

  @Override
  public void close() throws IOException {
    file.close();
  }
}
