package dev.vdisk.io;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.linux.ErrnoException;
import dev.vdisk.io.linux.FallocateMode;
import dev.vdisk.io.linux.FileIo;
import dev.vdisk.io.linux.FileStat;
import dev.vdisk.io.linux.LinuxAio;
import dev.vdisk.io.linux.NativeFile;
import dev.vdisk.io.linux.RingFile;
import dev.vdisk.io.linux.UringAio;
import dev.vdisk.io.linux.UringUnavailableException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A host regular file or block device (a loop device, an LVM volume) as a {@link BlockDevice}: QEMU's
 * file-posix driver.
 *
 * <p><b>Data</b> moves as {@link FileOptions#aio()} says: through the kernel's io_uring, one ring per device
 * shared by every request thread ({@link RingFile}; asked for with {@code aio=io_uring}), or through a JDK {@link
 * FileChannel} with positional I/O on the calling thread ({@code aio=threads}, the default, and {@code aio=native});
 * either way concurrently and without a lock, but for large writes through the page cache into a regular file under
 * {@code aio=threads}, which go one at a time ({@link SerialWrites}: the kernel serialises them anyway) unless an
 * NBD export writes them ({@link ImageUser#EXPORT}: its connections' threads go back to their sockets). Under {@code
 * aio=native} and {@code aio=io_uring} (O_DIRECT) the device also serves asynchronous {@linkplain #queue queues}, on
 * Linux AIO or a ring of the queue's own, for a caller that keeps many requests in flight from one thread. Where
 * io_uring cannot be set up, the device falls back to threads with one warning line (once per reason and process).
 * With {@link CacheMode#direct()} the channel is opened O_DIRECT; requests of any alignment are still
 * accepted ({@code limits().requestAlignment() == 1}) and bounced as needed, see {@link DirectPath}.
 * {@code limits().optimalAlignment()} is the alignment that avoids that: the file system's block size, and
 * for block devices at least the logical sector size.
 *
 * <p><b>Everything else</b> (discard, zeroing, allocation map, size, locks) goes through a second,
 * native descriptor of the same file ({@link NativeFile}, behind {@link HostFile}); these calls act on the inode, so
 * which descriptor makes them does not matter. Tests put a device on a simulated host file through {@link #onHost}.
 *
 * <ul>
 *   <li>Reads past the end of a regular file shorter than {@link #size()} return zeroes.
 *   <li>flush is fdatasync (io_uring's FSYNC with DATASYNC under io_uring), or nothing under a cache mode that ignores flushes ({@code unsafe}): QEMU's
 *       no-flush holds for every flush of the file, a format's own metadata ordering included; FUA is not
 *       native (the guard flushes).
 *   <li>discard punches a hole (block devices: BLKDISCARD); it is advisory, so where the host cannot, it
 *       does nothing.
 *   <li>writeZeroes punches a hole with MAY_TRIM, else uses ZERO_RANGE, else punch-then-allocate (QEMU's
 *       emulation), else writes zeroes, or fails with ENOTSUP under FAST_ZERO. Block devices: BLKZEROOUT.
 *       It never grows a file.
 *   <li>extents come from SEEK_DATA/SEEK_HOLE: data, or zero for holes (as {@code qemu-img map} shows a
 *       raw file). Block devices are one data extent.
 *   <li>The image is locked as QEMU locks it ({@link ImageLock}) unless {@link FileOptions#locking()} is off.
 * </ul>
 */
public final class FileDevice implements BlockDevice {
  /** Work cap per {@link #extents} call; callers ask again from where the list ends. */
  private static final int MAX_EXTENTS_PER_CALL = 1024;
  private static final int ZERO_CHUNK = 1 << 20;
  /** {@link #flushDescriptors} under writethrough: group commit's slots over a host file (see Images). */
  static final int WRITETHROUGH_FLUSHES = 16;
  /** {@link #flushDescriptors} under writeback. */
  static final int WRITEBACK_FLUSHES = 4;
  /**
   * The logger, looked up when there is something to say: the first {@code System.getLogger} searches the class path
   * for a logger service (opening and indexing the jar) and starts java.util.logging, which a command that logs
   * nothing should not pay for.
   */
  private static System.Logger log() {
    return System.getLogger(FileDevice.class.getName());
  }
  /** Fall-back notices already given (level and reason), so that a process opening many files says it once. */
  private static final Set<String> TOLD = ConcurrentHashMap.newKeySet();

  private final Path path;
  private final FileOptions options;
  private final FileIo io;
  private final Aio aio;
  private final HostFile file;
  private final boolean blockDevice;
  private final String fsType;
  private final int alignment;
  private final DataPath data;
  /** The O_DIRECT descriptor of {@link WritethroughPath}'s aligned writes, or null where writes take the data path's. */
  private final FileIo directWrites;
  /** The data path whose channel's bytes {@link #hostRanges} yields, or null where it yields nothing. */
  private final ChannelIo sendable;
  /** How {@link #hostRanges}' ranges answer {@link HostRange#cached}. */
  private final HostRange.Residency residency = this::pageCached;
  private final Capabilities capabilities;
  private final BlockLimits limits;
  /** Orders resizes against the trim that follows a read-modify-write past the end. */
  private final Object sizeLock = new Object();
  private final AtomicBoolean closed = new AtomicBoolean();
  /**
   * QEMU's write_gen and flushed_gen (block/io.c): changes to the file finished (or failed) so far, counted after
   * each, and the count the last successful fdatasync covered. A flush with nothing since is skipped, as QEMU skips
   * it; a device's first flush is always made (the count starts one ahead), for whatever was written before it.
   */
  private final AtomicLong changes = new AtomicLong(1);
  private final AtomicLong flushedChanges = new AtomicLong();
  /** Whether a successful fdatasync can be trusted; a failed one under the page cache fails every later flush. */
  private final WritebackErrors writebackErrors;
  private volatile long size;
  /** Idle write channels of {@link #writeFrom}, each with its own file offset; closed with the device. */
  private final ConcurrentLinkedQueue<FileChannel> copyChannels = new ConcurrentLinkedQueue<>();
  // Learnt on first failure: retrying an unsupported fallocate mode or lseek on every request is waste.
  private volatile boolean punchSupported = true;
  private volatile boolean blockDiscardSupported = true;
  private volatile boolean zeroRangeSupported = true;
  private volatile boolean seekSupported = true;

  /**
   * @param directWrites an O_DIRECT descriptor of the file for aligned writes ({@link #openDirectWrites}), or null;
   *     owned from now on if the constructor returns
   * @param flushes descriptors for concurrent flushes, the data path's included ({@link #flushDescriptors})
   */
  private FileDevice(Path path, FileOptions options, FileIo io, FileIo directWrites, HostFile file, FileStat stat,
      int flushes) throws IOException {
    this.path = path;
    this.options = options;
    this.io = io;
    this.aio = io instanceof RingFile ? Aio.IO_URING : linuxAioUsable(path, options) ? Aio.NATIVE : Aio.THREADS;
    this.file = file;
    this.blockDevice = stat.isBlockDevice();
    this.fsType = file.fileSystemType();
    int fsBlock = file.fileSystemBlockSize();
    this.size = blockDevice ? file.blockDeviceSize() : stat.size();
    this.alignment = blockDevice ? Math.max(fsBlock, file.logicalSectorSize()) : fsBlock;
    if (options.cache().direct()) {
      // The JDK enforces the file system's block size; a block device may need its sector size on top.
      DirectPath direct = new DirectPath(io, alignment, blockDevice ? size : Long.MAX_VALUE, this::trimOvershoot);
      probe(direct);
      this.data = direct;
      this.directWrites = null;
    } else if (directWrites != null && directWritesWork(directWrites, alignment)) {
      this.data = new WritethroughPath(io, directWrites, alignment);
      this.directWrites = directWrites;
    } else {
      if (directWrites != null) {
        directWrites.close();
      }
      // Large writes one at a time into a regular file under aio=threads (see SerialWrites: the kernel serialises them
      // anyway, and its waiters spin); a block device's buffered writes run in parallel. Not under io_uring either,
      // though there too they contend: ext4 punts every buffered write to io-wq, whose workers belong to the
      // submitting thread, so 4 request threads had 4 workers on the inode lock (perf, 1 MiB writes at depth 4); one
      // at a time, each write waited for its hand-off to a worker instead: 8,000 took 1.46-1.72 s against 1.31-1.41
      // (threads: 1.12-1.34; alternating, loaded, 2026-12-05, issue 18).
      // Nor for an NBD export: its writes come from the connections' reader threads, each of which reads its client's
      // next payload once its own write is made. The turn's holder making the writes queued behind its own (flat
      // combining) keeps it from its socket meanwhile, and the waiting reader from its own: neither drains its client
      // while the file is written. Straight to the kernel, a reader returns to its socket as soon as its write is in
      // the page cache while the other writes (nbdcopy file to image, two connections of 256 KiB writes, issue 16).
      boolean serial = !blockDevice && aio != Aio.IO_URING && options.user() != ImageUser.EXPORT;
      this.data = new BufferedPath(io, serial);
      this.directWrites = null;
    }
    // XFS's buffered reads hold the inode lock shared, so a copy never sees a mix of old and new bytes of a
    // concurrent write; bytes sent later from the page cache could. Other file systems' reads take no such lock.
    this.sendable = io instanceof ChannelIo c && !options.cache().direct() && (options.readOnly() || !"xfs".equals(fsType))
        ? c : null;
    this.capabilities = new Capabilities(options.readOnly(), Support.NATIVE, Support.NONE, Support.NATIVE,
        Support.NATIVE, blockDevice ? Support.NONE : Support.NATIVE, Support.NATIVE);
    this.limits = new BlockLimits(1, BlockLimits.DEFAULT_MAX_TRANSFER, alignment, alignment);
    // Last, as nothing after it fails: a failed constructor leaves no descriptor of its own open.
    this.writebackErrors = new WritebackErrors(!options.cache().direct(), io,
        openSyncDescriptors(file, flushes - 1));
  }

  /**
   * Descriptors for concurrent flushes of a writable page-cache file ({@link WritebackErrors}), the data path's
   * included: {@value #WRITETHROUGH_FLUSHES} under writethrough, where every write waits for a flush and group commit
   * runs as many at once (16 writes in flight each start one); {@value #WRITEBACK_FLUSHES} under writeback, whose
   * flushes are the guest's or a command's, a few at a time (an NBD client's connections); one where flushes need no
   * more (read-only, {@code unsafe}) or share the data path's descriptor (O_DIRECT).
   */
  static int flushDescriptors(FileOptions options) {
    CacheMode cache = options.cache();
    if (options.readOnly() || cache.direct() || cache.ignoreFlushes()) {
      return 1;
    }
    return cache.writethrough() ? WRITETHROUGH_FLUSHES : WRITEBACK_FLUSHES;
  }

  /** {@code count} more descriptors of {@code file} for flushes; none left open if one fails to open. */
  private static List<SyncDescriptor> openSyncDescriptors(HostFile file, int count) throws IOException {
    List<SyncDescriptor> opened = new ArrayList<>(count);
    try {
      for (int i = 0; i < count; i++) {
        opened.add(file.openSyncDescriptor());
      }
    } catch (IOException | RuntimeException e) {
      for (SyncDescriptor d : opened) {
        closeAfterFailure(d, e);
      }
      throw e;
    }
    return opened;
  }

  /**
   * Opens {@code path}, a regular file or a block device, as {@code options} describe, and takes QEMU's
   * image locks as for a file under a format that keeps metadata in it ({@link #lock lock(true)}).
   *
   * @throws BlockDeviceException EPERM if the image is locked by another user (QEMU's message); ENOTSUP if
   *     a direct cache mode is asked for on a file system that refuses O_DIRECT; EINVAL for other file types
   * @throws IOException if the file cannot be opened
   */
  public static FileDevice open(Path path, FileOptions options) throws IOException {
    return open(path, options, flushDescriptors(options));
  }

  private static FileDevice open(Path path, FileOptions options, int flushes) throws IOException {
    FileDevice device = openUnlocked(path, options, flushes);
    try {
      device.lock(true);
    } catch (IOException | RuntimeException e) {
      closeAfterFailure(device, e);
      throw e;
    }
    return device;
  }

  /**
   * {@link #open} without the image locks, for a caller that takes them with {@link #lock} once it knows the
   * image's format (QEMU too probes the format before it locks).
   */
  public static FileDevice openUnlocked(Path path, FileOptions options) throws IOException {
    return openUnlocked(path, options, flushDescriptors(options));
  }

  private static FileDevice openUnlocked(Path path, FileOptions options, int flushes) throws IOException {
    Set<OpenOption> channelOptions = channelOptions(options);
    FileChannel channel = openChannel(path, options, channelOptions);
    NativeFile file = null;
    FileIo io = null;
    FileIo directWrites = null;
    try {
      file = NativeFile.open(path, !options.readOnly());
      LinuxHostFile host = new LinuxHostFile(file);
      FileStat stat = host.stat();
      requireFileOrBlockDevice(path, stat);
      io = openIo(path, options, channel, channelOptions, file);
      directWrites = openDirectWrites(path, options, stat, file);
      return new FileDevice(path, options, io, directWrites, host, stat, flushes);
    } catch (IOException | RuntimeException e) {
      closeAfterFailure(file, e);
      closeAfterFailure(io, e);
      closeAfterFailure(directWrites, e);
      closeAfterFailure(channel, e);
      throw e;
    }
  }

  /**
   * A device on {@code host}, whose data moves through {@code io} (already opened as {@code options.cache()} says,
   * O_DIRECT's rules included): how the crash tests put a FileDevice on a simulated disk. Takes no locks; on success
   * the device owns both, on failure the caller still does.
   */
  static FileDevice onHost(Path path, FileOptions options, FileIo io, HostFile host) throws IOException {
    FileStat stat = host.stat();
    requireFileOrBlockDevice(path, stat);
    return new FileDevice(path, options, io, null, host, stat, flushDescriptors(options));
  }

  /**
   * The O_DIRECT descriptor for {@link WritethroughPath}'s aligned writes: for a writable regular file under {@code
   * cache=writethrough} (whose every write waits for an fdatasync, so a write gains nothing from the page cache and
   * pays for its folio); null otherwise, and where the file system refuses O_DIRECT (tmpfs), whose writes then take
   * the page cache as before. Block devices keep the page cache for writes: measured on regular files only.
   */
  private static FileIo openDirectWrites(Path path, FileOptions options, FileStat stat, NativeFile file)
      throws IOException {
    CacheMode cache = options.cache();
    if (!cache.writethrough() || cache.direct() || cache.ignoreFlushes() || options.readOnly()
        || !stat.isRegularFile()) {
      return null;
    }
    Set<OpenOption> open = Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE, directOpenOption());
    try {
      return new ChannelIo(FileChannel.open(path, open), open, file);
    } catch (FileSystemException refused) {
      return null; // O_DIRECT refused (EINVAL): the page cache takes the writes, as before
    }
  }

  /** Whether an aligned direct read of the first block works: a file system's stricter O_DIRECT rule shows there. */
  private static boolean directWritesWork(FileIo direct, int alignment) {
    try {
      new DirectPath(direct, alignment, Long.MAX_VALUE, end -> { }).probe();
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static void requireFileOrBlockDevice(Path path, FileStat stat) throws BlockDeviceException {
    if (!stat.isRegularFile() && !stat.isBlockDevice()) {
      throw new BlockDeviceException(BlockError.EINVAL,
          "open: " + path + " is not a regular file or block device (expected: an image file or a block device)");
    }
  }

  /**
   * The data path {@code options.aio()} asks for: a ring of its own when io_uring is asked for (then the channel,
   * opened to check the file and report a refused O_DIRECT as the JDK sees it, is closed), else the channel.
   */
  private static FileIo openIo(Path path, FileOptions options, FileChannel channel, Set<OpenOption> channelOptions,
      NativeFile file) throws IOException {
    if (options.aio().ring()) {
      try {
        RingFile ring = RingFile.open(path, !options.readOnly(), options.cache().direct());
        channel.close();
        return ring;
      } catch (UringUnavailableException e) {
        if (TOLD.add(e.getMessage())) {
          log().log(System.Logger.Level.WARNING, "aio={0}: io_uring is not available here ({1}); using aio=threads",
              options.aio(), e.getMessage());
        }
      }
    }
    return new ChannelIo(channel, channelOptions, file);
  }

  /**
   * O_DIRECT for {@link FileChannel#open}: {@code com.sun.nio.file.ExtendedOpenOption.DIRECT} of the jdk.unsupported
   * module, looked up by name (as Lucene's DirectIODirectory does) so that the library's API compiles and documents
   * without naming an internal JDK class.
   */
  private static OpenOption directOpenOption() throws IOException {
    try {
      return (OpenOption) Class.forName("com.sun.nio.file.ExtendedOpenOption").getField("DIRECT").get(null);
    } catch (ReflectiveOperationException | ClassCastException e) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "cache: O_DIRECT not available in this JDK (expected: the "
          + "jdk.unsupported module's ExtendedOpenOption.DIRECT; or use cache=writeback)", e);
    }
  }

  /**
   * Creates the file of a new image and opens it for writing, as QEMU's file driver creates one: an existing file is
   * replaced only if {@code replace}, and only after QEMU's locks for a writer are held on it, so that an image another
   * process has open (a running QEMU) is never truncated. The file is empty on return.
   *
   * @throws java.nio.file.FileAlreadyExistsException if the file exists and not {@code replace}
   * @throws BlockDeviceException EPERM if another process holds the image (QEMU's message); the file is untouched
   */
  public static FileDevice create(Path path, boolean replace) throws IOException {
    if (!replace || !Files.exists(path)) {
      Files.createFile(path);
    }
    // Writeback with one flush descriptor, the data path's: a format's creation flushes at most once, from one thread
    // (the descriptors for concurrent flushes would be opened and closed unused: 3 of the 8 opens of a convert's
    // target).
    FileDevice file = open(path, FileOptions.of(CacheMode.WRITEBACK, false), 1);
    try {
      file.resize(0);
      return file;
    } catch (IOException | RuntimeException e) {
      closeAfterFailure(file, e);
      throw e;
    }
  }

  /** Writes a new image into the file {@link #create(Path, boolean, Creation)} made for it. */
  @FunctionalInterface
  public interface Creation {
    void writeTo(FileDevice file) throws IOException;
  }

  /**
   * Creates the file as {@link #create(Path, boolean)} does, lets {@code creation} write the new image into it and
   * closes it. If the creation fails, the file is deleted before the failure is thrown (it was emptied already), as
   * qemu-img deletes a qcow2 it failed to create: no half-written image is left behind. A file another process holds
   * is refused untouched, as by {@link #create(Path, boolean)}.
   */
  public static void create(Path path, boolean replace, Creation creation) throws IOException {
    try (FileDevice file = create(path, replace)) {
      try {
        creation.writeTo(file);
      } catch (Throwable t) {
        try {
          Files.deleteIfExists(path);
        } catch (IOException e) {
          t.addSuppressed(e);
        }
        throw t;
      }
    }
  }

  /** How the data channel opens under {@code options}. */
  private static Set<OpenOption> channelOptions(FileOptions options) throws IOException {
    Set<OpenOption> open = new HashSet<>();
    open.add(StandardOpenOption.READ);
    if (!options.readOnly()) {
      open.add(StandardOpenOption.WRITE);
    }
    if (options.cache().direct()) {
      open.add(directOpenOption());
    }
    return open;
  }

  private static FileChannel openChannel(Path path, FileOptions options, Set<OpenOption> open) throws IOException {
    try {
      return FileChannel.open(path, open);
    } catch (NoSuchFileException | AccessDeniedException e) {
      throw e;
    } catch (FileSystemException e) {
      if (options.cache().direct() && refusesDirect(path)) {
        throw new BlockDeviceException(BlockError.ENOTSUP, "cache=" + options.cache() + ": " + path + " is on "
            + Files.getFileStore(path).type() + ", which refuses O_DIRECT"
            + " (expected: a filesystem with O_DIRECT support, or cache=writeback)", e);
      }
      throw e;
    }
  }

  /** The JDK reports a refused O_DIRECT open only as text; a native open tells EINVAL apart for sure. */
  private static boolean refusesDirect(Path path) throws IOException {
    try {
      NativeFile.tryDirectOpen(path);
      return false;
    } catch (ErrnoException e) {
      return e.errno() == ErrnoException.EINVAL;
    }
  }

  private void probe(DirectPath direct) throws IOException {
    try {
      direct.probe();
    } catch (IOException e) {
      throw new BlockDeviceException(BlockError.EINVAL, "cache=" + options.cache() + ": an aligned read of "
          + alignment + " bytes at offset 0 of " + path + " failed: " + e.getMessage()
          + " (expected: O_DIRECT reads aligned to " + alignment + " bytes to work, or cache=writeback)", e);
    }
  }

  /** The host file's path, as opened. */
  public Path path() {
    return path;
  }

  /** The options the file was opened with. */
  public FileOptions options() {
    return options;
  }

  /** The aio mode in effect: {@link Aio#IO_URING} or {@link Aio#THREADS} (also after a fall-back). */
  public Aio aio() {
    return aio;
  }

  /** True if this is a block device rather than a regular file. */
  public boolean isBlockDevice() {
    return blockDevice;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public Capabilities capabilities() {
    return capabilities;
  }

  @Override
  public BlockLimits limits() {
    return limits;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    boolean interrupted = Thread.interrupted();
    try {
      data.read(offset, dst);
    } catch (IOException e) {
      throw HostErrors.of("read", path, offset, length, e);
    } finally {
      restoreInterrupt(interrupted);
    }
  }

  /**
   * The range itself, where the bytes come through the page cache on a JDK channel ({@code aio=threads}, a cache mode
   * without O_DIRECT), the range lies inside the file (a read past its end is zeroes, which the file does not hold)
   * and the file is read-only or not on XFS (see the constructor); nothing otherwise.
   */
  @Override
  public List<HostRange> hostRanges(long offset, long length) {
    if (sendable == null || offset < 0 || length <= 0 || length > size - offset) {
      return List.of();
    }
    return List.of(new HostRange(sendable.channel(), offset, length, residency));
  }

  /** {@link HostFile#cached}, for {@link HostRange#cached}: a hint, so a host that fails to answer says "not cached". */
  private boolean pageCached(long offset, long length) {
    try {
      return file.cached(offset, length);
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * The copy where this is a regular file written through the page cache (no O_DIRECT, which would bypass the pages a
   * buffered write fills, nor a block device): the JDK's {@link FileChannel#transferTo}, which on Linux is {@code
   * copy_file_range} (or sendfile between file systems). It writes at its target's file offset, not at a position it
   * is given, so each copy in flight takes a channel of its own from {@link #copyChannels}. Grows the file as a
   * {@link #write} does.
   */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    if (options.readOnly() || options.cache().direct() || blockDevice) {
      return false;
    }
    long length = src.length();
    growTo(offset + length);
    // An interrupted thread would close both channels (the JDK's close-on-interrupt): the source's is another device's.
    boolean interrupted = Thread.interrupted();
    FileChannel target = copyChannels.poll();
    try {
      if (target == null) {
        target = FileChannel.open(path, StandardOpenOption.WRITE);
      }
      target.position(offset);
      long done = 0;
      while (done < length) {
        long n = src.channel().transferTo(src.position() + done, length - done, target);
        if (n <= 0) {
          throw new IOException("the source file ended at byte " + (src.position() + done)
              + " (expected: a source no other process truncates)");
        }
        done += n;
      }
    } catch (IOException e) {
      throw HostErrors.of("write", path, offset, length, e);
    } finally {
      changes.incrementAndGet();
      if (target != null && target.isOpen()) { // an interrupt during the copy closed it: a later copy opens another
        copyChannels.add(target);
      }
      restoreInterrupt(interrupted);
    }
    if (closed.get()) {
      closeCopyChannels();
    }
    return true;
  }

  /**
   * Writes {@code src} at {@code offset}. A write past the end of a regular file grows it, as a file does: image
   * formats append clusters this way. (The guard keeps guest writes to raw images within the size.)
   */
  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    int length = src.remaining();
    // Before the write: the overshoot trim of an unaligned direct write must cut back to the new end, not the old.
    growTo(offset + length);
    boolean interrupted = Thread.interrupted();
    try {
      data.write(offset, src);
    } catch (IOException e) {
      throw HostErrors.of("write", path, offset, length, e);
    } finally {
      changes.incrementAndGet();
      restoreInterrupt(interrupted);
    }
  }

  /**
   * A queue of {@code depth} requests ({@link AioQueue}, with an O_DIRECT descriptor of its own) on an O_DIRECT
   * device: on an AIO context of its own under {@code aio=native}, on an io_uring of its own under {@code
   * aio=io_uring}; null otherwise, or where the kernel refuses the context or ring (then with one warning line), so
   * that the caller falls back to synchronous requests.
   */
  @Override
  public RequestQueue queue(int depth) throws IOException {
    if (aio == Aio.THREADS || !(data instanceof DirectPath direct)) {
      return null;
    }
    if (closed.get()) {
      throw HostErrors.of("queue", path, 0, 0, new ClosedChannelException());
    }
    try {
      return new AioQueue(this, direct, aio == Aio.IO_URING ? UringAio.open(path, !options.readOnly(), depth)
          : LinuxAio.open(path, !options.readOnly(), depth), alignment);
    } catch (UringUnavailableException e) {
      if (TOLD.add("queue: " + e.getMessage())) {
        log().log(System.Logger.Level.WARNING, "aio=io_uring: no io_uring for a request queue here ({0}); "
            + "requests run synchronously", e.getMessage());
      }
      return null;
    } catch (ErrnoException e) {
      tellFallBack(e);
      return null;
    }
  }

  /** Whether {@code aio=native} is asked for on an O_DIRECT file and the kernel sets up an AIO context for it. */
  private static boolean linuxAioUsable(Path path, FileOptions options) {
    if (options.aio() != Aio.NATIVE || !options.cache().direct()) {
      return false;
    }
    try {
      LinuxAio.open(path, false, 1).close();
      return true;
    } catch (IOException e) {
      tellFallBack(e);
      return false;
    }
  }

  private static void tellFallBack(IOException e) {
    if (TOLD.add("native: " + e.getMessage())) {
      log().log(System.Logger.Level.WARNING, "aio=native: Linux AIO is not available here ({0}); using aio=threads",
          e.getMessage());
    }
  }

  /** Before a write that bypasses {@link #write} (an {@link AioQueue}'s): a write past the end grows the file. */
  void growTo(long end) {
    if (!blockDevice && end > size) {
      synchronized (sizeLock) {
        size = Math.max(size, end);
      }
    }
  }

  /** After such a write, done or failed: the next flush must not be skipped. */
  void changed() {
    changes.incrementAndGet();
  }

  /** {@code e}, the failure of such a request, as {@link #read} or {@link #write} would throw it. */
  BlockDeviceException hostError(String op, long offset, long length, IOException e) {
    return HostErrors.of(op, path, offset, length, e);
  }

  /**
   * fdatasync, unless the cache mode ignores flushes or nothing changed the file through this device since its last
   * successful flush. Flushes of a writable page-cache file run at once, up to 16 under writethrough and 4 under
   * writeback, each on a descriptor of the file of its own, and after one fails every later one fails, as in QEMU:
   * Linux reports a failed write-back once to each open file description.
   */
  @Override
  public void flush() throws IOException {
    long covered = changes.get();
    if (options.cache().ignoreFlushes() || covered == flushedChanges.get()) {
      return;
    }
    boolean interrupted = Thread.interrupted();
    try {
      writebackErrors.fdatasync();
      flushedChanges.accumulateAndGet(covered, Math::max);
    } catch (IOException e) {
      throw HostErrors.of("flush", path, 0, size, e);
    } finally {
      restoreInterrupt(interrupted);
    }
  }

  /**
   * Starts writing back what this file holds in the host's page cache, without waiting, so that the next {@link
   * #flush} has less left to write: a long copy that ends in a flush calls it as it goes, and the disk writes while
   * the copy runs instead of after it. Makes nothing durable (crash safety still rests on {@link #flush} alone); does
   * nothing where the cache mode ignores flushes or bypasses the page cache. Never fails: a host file that refuses
   * the hint is written back at the flush as before, and the flush reports any write error.
   */
  public void startWriteback() {
    if (options.cache().ignoreFlushes() || options.cache().direct()) {
      return;
    }
    try {
      file.startWriteback();
    } catch (IOException refused) {
      // A hint refused (a file system without sync_file_range): the next flush writes everything, as without it.
    }
  }

  /**
   * FileChannel closes itself, for every thread, when a thread blocked in it is interrupted, and at once when an
   * interrupted thread enters it. {@link ChannelIo} replaces a channel closed so; the flag of a thread that arrives
   * already interrupted (a cancelled task) is set aside for the call and restored afterwards, which spares it that.
   */
  private static void restoreInterrupt(boolean interrupted) {
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    try {
      if (blockDevice) {
        long start = alignUp(offset, alignment);
        long end = alignDown(offset + length, alignment);
        if (start < end && blockDiscardSupported) {
          data.mutate(start, end - start, () -> blockDiscard(start, end - start));
        }
      } else {
        data.mutate(offset, length, () -> punch(offset, length));
      }
    } catch (IOException e) {
      throw HostErrors.of("discard", path, offset, length, e);
    } finally {
      changes.incrementAndGet();
    }
  }

  /** BLKDISCARD; a device without discard support is told nothing more (discard is advisory). */
  private boolean blockDiscard(long offset, long length) throws IOException {
    try {
      file.discardBlocks(offset, length);
      return true;
    } catch (ErrnoException e) {
      if (e.notSupported()) {
        blockDiscardSupported = false;
        return false;
      }
      throw e;
    }
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    try {
      if (blockDevice) {
        zeroBlockDevice(offset, length);
        return;
      }
      // Past EOF a file already reads as zeroes; zeroing there would allocate or grow it.
      long end = Math.min(offset + length, file.stat().size());
      if (end <= offset) {
        return;
      }
      long len = end - offset;
      boolean trim = flags.contains(WriteFlag.MAY_TRIM);
      if (data.mutate(offset, len, () -> (trim && punch(offset, len)) || zeroInPlace(offset, len))) {
        return;
      }
      if (flags.contains(WriteFlag.FAST_ZERO)) {
        throw new BlockDeviceException(BlockError.ENOTSUP, "writeZeroes " + path + " offset " + offset + " length "
            + length + ": FAST_ZERO, but " + fsType + " can neither punch holes nor zero ranges");
      }
      writeZeroBuffers(offset, len);
    } catch (IOException e) {
      throw HostErrors.of("writeZeroes", path, offset, length, e);
    } finally {
      changes.incrementAndGet();
    }
  }

  /** ZERO_RANGE, else punch a hole and allocate it again, as QEMU does where ZERO_RANGE is missing (tmpfs). */
  private boolean zeroInPlace(long offset, long length) throws IOException {
    if (zeroRangeSupported) {
      try {
        io.fallocate(FallocateMode.ZERO_RANGE_KEEP_SIZE, offset, length);
        return true;
      } catch (ErrnoException e) {
        if (!e.notSupported()) {
          throw e;
        }
        zeroRangeSupported = false;
      }
    }
    if (!punch(offset, length)) {
      return false;
    }
    try {
      io.fallocate(FallocateMode.ALLOCATE_KEEP_SIZE, offset, length);
    } catch (ErrnoException e) {
      if (!e.notSupported()) {
        throw e;
      }
      // The range reads as zeroes already; it merely stays unallocated.
    }
    return true;
  }

  /** Punches a hole; false if the file system cannot. */
  private boolean punch(long offset, long length) throws IOException {
    if (!punchSupported) {
      return false;
    }
    try {
      io.fallocate(FallocateMode.PUNCH_HOLE, offset, length);
      return true;
    } catch (ErrnoException e) {
      if (!e.notSupported()) {
        throw e;
      }
      punchSupported = false;
      return false;
    }
  }

  /** BLKZEROOUT over the whole sectors, written zeroes for partial sectors at either end. */
  private void zeroBlockDevice(long offset, long length) throws IOException {
    long end = offset + length;
    long start = Math.min(alignUp(offset, alignment), end);
    long stop = Math.max(alignDown(end, alignment), start);
    if (start > offset) {
      writeZeroBuffers(offset, start - offset);
    }
    if (stop > start) {
      data.mutate(start, stop - start, () -> {
        file.zeroOutBlocks(start, stop - start);
        return true;
      });
    }
    if (end > stop) {
      writeZeroBuffers(stop, end - stop);
    }
  }

  private void writeZeroBuffers(long offset, long length) throws IOException {
    writeInPieces(offset, length, false);
  }

  /** Writes {@code [offset, offset + length)} a piece at a time: zeroes, or with {@code rewrite} the bytes read there. */
  private void writeInPieces(long offset, long length, boolean rewrite) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      // Aligned, so that a direct channel takes it without bouncing; zeroed by the arena.
      ByteBuffer piece = arena.allocate(Math.min(length, ZERO_CHUNK), alignment).asByteBuffer();
      for (long pos = offset; pos < offset + length; ) {
        int n = (int) Math.min(piece.capacity(), offset + length - pos);
        piece.clear().limit(n);
        if (rewrite) {
          data.read(pos, piece);
          piece.flip();
        }
        data.write(pos, piece);
        pos += n;
      }
    }
  }

  /**
   * The allocation of {@code [offset, offset + length)}: data extents where the file has data, zero extents
   * over holes and past EOF; host offsets equal guest offsets. Stops after {@value #MAX_EXTENTS_PER_CALL}
   * extents.
   */
  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    if (blockDevice || !seekSupported) {
      return List.of(Extent.data(offset, length, offset));
    }
    try {
      return seekExtents(offset, offset + length);
    } catch (ErrnoException e) {
      if (!e.notSupported() && e.errno() != ErrnoException.EINVAL) {
        throw HostErrors.of("extents", path, offset, length, e);
      }
      seekSupported = false;
      return List.of(Extent.data(offset, length, offset));
    }
  }

  /**
   * Alternates SEEK_HOLE (from a position that may hold data) and SEEK_DATA (from one known to start a hole), one call
   * per run. It starts with SEEK_HOLE: a range of an allocated file, the usual NBD read, then costs one call.
   */
  private List<Extent> seekExtents(long offset, long end) throws IOException {
    List<Extent> out = new ArrayList<>();
    long pos = offset;
    boolean atHole = false;
    while (pos < end && out.size() < MAX_EXTENTS_PER_CALL) {
      if (!atHole) {
        long holeAt = file.seekHole(pos);
        if (holeAt < 0) { // truncated meanwhile: pos is past EOF now
          out.add(Extent.zero(pos, end - pos, pos));
          break;
        }
        if (holeAt > pos) {
          long dataEnd = Math.min(holeAt, end);
          out.add(Extent.data(pos, dataEnd - pos, pos));
          pos = dataEnd;
        }
        atHole = true;
        continue;
      }
      long dataAt = file.seekData(pos);
      if (dataAt < 0 || dataAt >= end) {
        out.add(Extent.zero(pos, end - pos, pos));
        break;
      }
      if (dataAt > pos) {
        out.add(Extent.zero(pos, dataAt - pos, pos));
        pos = dataAt;
      }
      atHole = false; // else data was written at pos meanwhile: look for its end
    }
    return out;
  }

  /**
   * Truncates or sparsely extends a regular file.
   *
   * @throws BlockDeviceException ENOTSUP for a block device, unless {@code newSize} is its size
   */
  @Override
  public void resize(long newSize) throws IOException {
    if (blockDevice) {
      if (newSize == size) {
        return;
      }
      throw new BlockDeviceException(BlockError.ENOTSUP,
          "resize: " + path + " is a block device, its size is fixed (expected: " + size + ")");
    }
    try {
      synchronized (sizeLock) {
        file.truncate(newSize);
        size = newSize;
      }
    } finally {
      changes.incrementAndGet();
    }
  }

  /**
   * A read-modify-write of the last, partial block of a file whose size is not aligned writes the whole
   * block and so grows the file; cut it back. {@link #write} raises {@link #size()} before writing past it, so
   * nothing written is lost.
   */
  private void trimOvershoot(long end) throws IOException {
    if (blockDevice || end <= size) {
      return;
    }
    synchronized (sizeLock) {
      if (file.stat().size() > size) {
        file.truncate(size);
      }
    }
  }

  /**
   * Reserves or writes storage for {@code [offset, offset + length)}, which must lie within {@link #size()}:
   * FALLOC reserves blocks without writing them (fallocate; nothing for a block device, whose storage
   * exists) or, on a file system without fallocate, writes the range's own bytes back over it, which allocates
   * it and changes nothing (as glibc's posix_fallocate, which QEMU calls, falls back to writing); FULL writes
   * zeroes; OFF and METADATA do nothing. Nobody else may write the range meanwhile.
   */
  public void preallocate(long offset, long length, Preallocation mode) throws IOException {
    if (offset < 0 || length < 0 || offset + length > size) {
      throw new BlockDeviceException(BlockError.EINVAL, "preallocate: offset " + offset + " length " + length
          + " (expected: within the size " + size + ")");
    }
    if (length == 0) {
      return;
    }
    try {
      switch (mode) {
        case OFF, METADATA -> { }
        case FALLOC -> {
          if (!blockDevice) {
            fallocateAll(offset, length);
          }
        }
        case FULL -> writeZeroBuffers(offset, length);
      }
    } catch (IOException e) {
      throw HostErrors.of("preallocate", path, offset, length, e);
    } finally {
      changes.incrementAndGet();
    }
  }

  private void fallocateAll(long offset, long length) throws IOException {
    try {
      io.fallocate(FallocateMode.ALLOCATE, offset, length);
    } catch (ErrnoException e) {
      if (!e.notSupported()) {
        throw e;
      }
      writeInPieces(offset, length, true);
    }
  }

  /**
   * Bytes of host storage the file occupies (st_blocks * 512): qemu-img's {@code actual-size}. For a block
   * device 0, as qemu-img reports it (the device node itself occupies nothing).
   */
  public long allocatedBytes() throws IOException {
    return blockDevice ? 0 : file.stat().allocatedBytes();
  }

  /**
   * Closes the flush descriptors, the channel and the native descriptor, which releases the image locks (OFD locks,
   * held by that descriptor alone). Idempotent.
   */
  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try (file; io; directWrites) {
      writebackErrors.close();
      closeCopyChannels();
    }
  }

  /** Closes the idle channels of {@link #writeFrom}; one still in use is closed by its copy, which sees the device closed. */
  private void closeCopyChannels() throws IOException {
    for (FileChannel c; (c = copyChannels.poll()) != null; ) {
      c.close();
    }
  }

  @Override
  public String toString() {
    return "FileDevice[" + path.getFileName() + ", cache=" + options.cache() + ", aio=" + aio + "]";
  }

  private static long alignUp(long value, int align) {
    return (value + align - 1) & -align;
  }

  private static long alignDown(long value, int align) {
    return value & -align;
  }

  /**
   * Takes QEMU's image locks for this open ({@link ImageLock#acquire}) unless {@link FileOptions#locking()} is off;
   * once, right after {@link #openUnlocked}.
   *
   * @param metadata the image's format keeps metadata in the file (qcow2), so it holds and withholds more than its
   *     user; false for raw, which passes its user's permissions through
   * @throws BlockDeviceException EPERM if the image is locked by another user (QEMU's message)
   */
  public void lock(boolean metadata) throws IOException {
    if (options.locking()) {
      file.lock(options, metadata);
    }
  }

  private static void closeAfterFailure(AutoCloseable c, Throwable failure) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception e) {
      failure.addSuppressed(e);
    }
  }
}
