package dev.vdisk.io.rbd;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An image on Ceph RBD, through librbd (QEMU's rbd driver in vdisk's terms): the bottom of a stack as a
 * {@code FileDevice} is, so a raw or a qcow2 image sits on it the same way.
 *
 * <p>Every read, write, discard, write-zeroes and flush goes through librbd's AIO calls with a completion: the
 * calling thread submits and parks until librbd's callback wakes it ({@link RbdCompletion}), so concurrent callers
 * (the NBD server's virtual threads, convert's workers) keep that many requests in flight. A caller that keeps many
 * in flight from one thread (bench) uses a {@linkplain #queue queue} instead, without a thread hop per request. Direct
 * buffers are handed to librbd as they are; heap buffers go through native memory.
 *
 * <p>As QEMU: the cache mode sets {@code rbd_cache} (off for {@code none} and {@code directsync}); a write past the
 * end grows the image first (a qcow2 on RBD grows its "file" so); {@link #extents} reports objects that exist as data
 * and those that do not as zeroes, from {@code rbd_diff_iterate2} when the image has a valid fast-diff map, else the
 * whole range as data; write-zeroes without {@link WriteFlag#MAY_TRIM} keep the range allocated. A snapshot is
 * opened read-only. Thread-safe.
 */
public final class RbdDevice implements BlockDevice {
  private final RadosCluster cluster;
  private final RbdNative rbd;
  private final RbdName name;
  private final boolean readOnly;
  private final long objectSize;
  private final Object resizeLock = new Object();
  private final BufferAddresses addresses = new BufferAddresses(64);
  private volatile MemorySegment image;
  private volatile long size;

  private RbdDevice(RadosCluster cluster, RbdName name, MemorySegment image, boolean readOnly) throws Throwable {
    this.cluster = cluster;
    this.rbd = cluster.rbd();
    this.name = name;
    this.image = image;
    this.readOnly = readOnly;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment info = arena.allocate(RbdNative.IMAGE_INFO_SIZE, 8);
      check((int) rbd.rbdStat.call(image.address(), info.address(), RbdNative.IMAGE_INFO_SIZE), "stat");
      this.size = info.get(JAVA_LONG, 0);
      this.objectSize = info.get(JAVA_LONG, RbdNative.IMAGE_INFO_OBJ_SIZE);
    }
  }

  /**
   * Opens the image {@code name} names (its snapshot read-only).
   *
   * @param cache the cache mode: {@code rbd_cache} is on unless it bypasses the host cache (QEMU's BDRV_O_NOCACHE)
   * @throws BlockDeviceException one line for a missing library, an unreachable cluster, a missing pool or image
   */
  public static RbdDevice open(RbdName name, CacheMode cache, boolean readOnly) throws IOException {
    RadosCluster cluster = RadosCluster.connect(name, cacheOptions(cache));
    try (Arena arena = Arena.ofConfined()) {
      RbdNative rbd = cluster.rbd();
      boolean ro = readOnly || name.snapshot() != null;
      MemorySegment out = arena.allocate(ADDRESS);
      MemorySegment snap = name.snapshot() == null ? MemorySegment.NULL : arena.allocateFrom(name.snapshot());
      int rc = ro
          ? (int) rbd.rbdOpenReadOnly.call(cluster.ioctx().address(), arena.allocateFrom(name.image()).address(), out.address(), snap.address())
          : (int) rbd.rbdOpen.call(cluster.ioctx().address(), arena.allocateFrom(name.image()).address(), out.address(), snap.address());
      if (rc == -RbdException.ENOENT) {
        throw new BlockDeviceException(BlockError.EINVAL, name + ": no such image"
            + (name.snapshot() == null ? "" : " or snapshot") + " in pool '" + name.pool() + "' (expected: an existing RBD image)");
      }
      if (rc < 0) {
        throw new RbdException(rc, name + ": open");
      }
      MemorySegment image = out.get(ADDRESS, 0);
      try {
        return new RbdDevice(cluster, name, image, ro);
      } catch (Throwable e) {
        int ignored = (int) rbd.rbdClose.call(image.address());
        throw e;
      }
    } catch (IOException | RuntimeException | Error e) {
      cluster.close();
      throw e;
    } catch (Throwable e) {
      cluster.close();
      throw new BlockDeviceException(BlockError.EIO, name + ": open: " + e, e);
    }
  }

  /**
   * Creates the image {@code name} names, {@code size} bytes, as {@code qemu-img create} does on RBD: format 2 with
   * the cluster's default features ({@code rbd_default_features}: layering, exclusive-lock, object-map, fast-diff,
   * deep-flatten unless the cluster says otherwise) and default object size.
   *
   * <p>The connection is kept for the next open of {@code name} in this process.
   *
   * @throws BlockDeviceException EEXIST-like EINVAL when the image exists, or why the cluster refused
   */
  public static void create(RbdName name, long size) throws IOException {
    if (name.snapshot() != null) {
      throw new BlockDeviceException(BlockError.EINVAL, name + ": create (expected: an image name without @snapshot)");
    }
    RadosCluster cluster = RadosCluster.connect(name, Map.of());
    try (Arena arena = Arena.ofConfined()) {
      RbdNative rbd = cluster.rbd();
      MemorySegment opts = arena.allocate(ADDRESS);
      rbd.rbdImageOptionsCreate.call(opts.address());
      MemorySegment o = opts.get(ADDRESS, 0);
      try {
        check(rbd, (int) rbd.rbdImageOptionsSetUint64.call(o.address(), RbdNative.RBD_IMAGE_OPTION_FORMAT, 2L), name + ": create");
        int rc = (int) rbd.rbdCreate4.call(cluster.ioctx().address(), arena.allocateFrom(name.image()).address(), size, o.address());
        if (rc == -RbdException.EEXIST) {
          throw new BlockDeviceException(BlockError.EINVAL, name + ": image already exists (expected: a new image name; "
              + "remove it with rbd rm first)");
        }
        check(rbd, rc, name + ": create");
      } finally {
        rbd.rbdImageOptionsDestroy.call(o.address());
      }
      // Kept for the open that usually follows (convert's target, a qcow2's metadata): one connect, not two.
      ConnectionAhead.keep(name, cluster);
    } catch (IOException | RuntimeException | Error e) {
      cluster.close();
      throw e;
    } catch (Throwable e) {
      cluster.close();
      throw new BlockDeviceException(BlockError.EIO, name + ": create: " + e, e);
    }
  }

  /**
   * Starts connecting to {@code name}'s cluster on a daemon thread, for an open or create of that name later in this
   * process to take instead of connecting itself (so the connect overlaps what the process does meanwhile). The
   * connection is made as {@link #open} makes it (the cache mode's options are set when it is taken); a failure is
   * thrown by the open that takes it. One nobody takes is shut down at exit. A name with {@code key-secret} is not
   * connected ahead (its secret is defined later).
   */
  public static void connectAhead(RbdName name) {
    ConnectionAhead.start(name, Use.OPEN);
  }

  /** What a command will do with the image it connects to ahead: what the thread prepares once connected. */
  public enum Use {
    /** Open it and maybe make no request (info, create, snapshot...): the connection alone. */
    OPEN,
    /**
     * Make requests (read, write, walk its extents: convert, map, compare...): the thread also makes the callbacks
     * librbd calls back into Java through (its request completions and {@code rbd_diff_iterate2}'s extents), which the
     * first request would otherwise make, and calls each once, for nobody, while the command opens the image
     * ({@link RbdNative#linkCallbacks}).
     */
    REQUESTS,
    /**
     * Make requests by the thousand (bench, serve): as {@link #REQUESTS}, and calls the completion callback until the
     * JDK has customized the handles of both directions ({@link RbdNative#CUSTOMIZED_AFTER} calls), which a command
     * making fewer requests may never reach.
     */
    MANY_REQUESTS
  }

  /** {@link #connectAhead(RbdName)} for a command that will use the image as {@code use} says. */
  public static void connectAhead(RbdName name, Use use) {
    ConnectionAhead.start(name, use);
  }

  /**
   * Makes the callbacks librbd calls back into Java through now and calls them for nobody (loading librbd and
   * librados if not yet), as a connection made ahead for requests does: for a program that trains a start-up cache
   * without a cluster, so that the JDK's classes behind them come from the cache. Does nothing where the libraries
   * cannot be loaded.
   */
  public static void linkCallbacks() {
    RbdNative.linkCallbacks(1);
  }

  /** How many connections to a cluster ({@code rados_connect} calls) this process has made: what tests count. */
  public static int connections() {
    return RadosCluster.CONNECTS.get();
  }

  private static Map<String, String> cacheOptions(CacheMode cache) {
    return Map.of("rbd_cache", cache.direct() ? "false" : "true");
  }

  /** The image's name as {@code rbd:pool/[namespace/]image[@snapshot]}. */
  public RbdName name() {
    return name;
  }

  /** RBD's object size: the unit of allocation, discard and {@code rbd du}. */
  public long objectSize() {
    return objectSize;
  }

  /**
   * One snapshot of the image, as {@code rbd_snap_list} lists it.
   *
   * @param name its name
   * @param size the image's size when it was taken
   */
  public record Snapshot(String name, long size) {}

  /** The image's snapshots in librbd's order (by id), as QEMU's rbd driver lists them for {@code qemu-img info}. */
  public List<Snapshot> snapshots() throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment count = arena.allocate(JAVA_INT);
      // librbd wants room for the list and an empty entry after it, and says how many with ERANGE.
      for (int max = 16; ; max = count.get(JAVA_INT, 0)) {
        count.set(JAVA_INT, 0, max);
        MemorySegment list = arena.allocate(RbdNative.SNAP_INFO_SIZE * max, 8);
        int n = (int) rbd.rbdSnapList.call(image().address(), list.address(), count.address());
        if (n == -RbdException.ERANGE) {
          continue;
        }
        check(n, "snapshot list");
        try {
          List<Snapshot> snapshots = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            MemorySegment entry = list.asSlice(i * RbdNative.SNAP_INFO_SIZE, RbdNative.SNAP_INFO_SIZE);
            snapshots.add(new Snapshot(entry.get(ADDRESS, 16).reinterpret(Integer.MAX_VALUE).getString(0), entry.get(JAVA_LONG, 8)));
          }
          return snapshots;
        } finally {
          rbd.rbdSnapListEnd.call(list.address());
        }
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new BlockDeviceException(BlockError.EIO, "snapshot list " + name + ": " + e, e);
    }
  }

  /**
   * Creates, removes or rolls the image back to its snapshot {@code snapshot} ({@code rbd_snap_create},
   * {@code rbd_snap_remove}, {@code rbd_snap_rollback}), as QEMU's rbd driver does for {@code qemu-img snapshot -c},
   * {@code -d} and {@code -a}.
   *
   * @throws RbdException librbd's error, e.g. ENOENT for a snapshot that does not exist, EEXIST for one that does
   */
  public void snapshot(SnapshotAction action, String snapshot) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      long at = arena.allocateFrom(snapshot).address();
      RbdNative.Downcall call = switch (action) {
        case CREATE -> rbd.rbdSnapCreate;
        case REMOVE -> rbd.rbdSnapRemove;
        case ROLLBACK -> rbd.rbdSnapRollback;
      };
      int rc = (int) call.call(image().address(), at);
      if (rc < 0) {
        throw new RbdException(rc, "snapshot " + action.name().toLowerCase(java.util.Locale.ROOT) + " " + name + "@" + snapshot);
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new BlockDeviceException(BlockError.EIO, "snapshot " + name + ": " + e, e);
    }
  }

  /** What {@link #snapshot} does. */
  public enum SnapshotAction { CREATE, REMOVE, ROLLBACK }

  @Override
  public long size() {
    return size;
  }

  @Override
  public Capabilities capabilities() {
    Support zeroes = rbd.rbdAioWriteZeroes.isPresent() ? Support.NATIVE : Support.EMULATED;
    return new Capabilities(readOnly, Support.NATIVE, Support.EMULATED, Support.NATIVE, zeroes, Support.NONE, Support.NATIVE);
  }

  @Override
  public BlockLimits limits() {
    return new BlockLimits(1, BlockLimits.DEFAULT_MAX_TRANSFER, objectSize, 1);
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int n = dst.remaining();
    if (n == 0) {
      return;
    }
    if (dst.isDirect()) {
      read(offset, addresses.address(dst), n);
    } else {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment buf = arena.allocate(n);
        read(offset, buf.address(), n);
        dst.slice().put(buf.asByteBuffer());
      }
    }
    dst.position(dst.limit());
  }

  /** Reads {@code n} bytes at {@code offset} into native memory at {@code buf}; zeroes past the end of the image. */
  private void read(long offset, long buf, int n) throws IOException {
    long readable = Math.max(0, Math.min(n, size - offset));
    if (readable < n) {
      // Past the end an RBD image has nothing; a format below whose file grows reads zeroes there, as from a file.
      zero(buf + readable, n - readable);
    }
    if (readable > 0) {
      long r = aio(Op.READ, offset, readable, buf, 0);
      if (r < readable) {
        // A short read (the image shrank meanwhile) ends in zeroes, as QEMU pads it.
        zero(buf + r, readable - r);
      }
    }
  }

  private static void zero(long address, long bytes) {
    MemorySegment.ofAddress(address).reinterpret(bytes).fill((byte) 0);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    int n = src.remaining();
    if (n == 0) {
      return;
    }
    growTo(offset + n);
    if (src.isDirect()) {
      write(offset, addresses.address(src), n);
    } else {
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment buf = arena.allocate(n);
        buf.asByteBuffer().put(src.slice());
        write(offset, buf.address(), n);
      }
    }
    src.position(src.limit());
  }

  /** Writes {@code n} bytes of native memory at {@code buf} at {@code offset}. */
  private void write(long offset, long buf, int n) throws IOException {
    aio(Op.WRITE, offset, n, buf, 0);
  }

  /**
   * A queue of {@code depth} (at most {@value RbdQueue#MAX_DEPTH}) reads and writes on librbd's AIO calls, whose
   * completions its thread collects several per wake-up ({@link RbdQueue}).
   */
  @Override
  public RequestQueue queue(int depth) throws IOException {
    image();
    return new RbdQueue(this, rbd, Math.min(depth, RbdQueue.MAX_DEPTH));
  }

  @Override
  public void flush() throws IOException {
    aio(Op.FLUSH, 0, 0, 0, 0);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    aio(Op.DISCARD, offset, length, 0, 0);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    if (flags.contains(WriteFlag.FAST_ZERO)) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "write zeroes " + name + ": no fast zeroing on RBD");
    }
    if (rbd.rbdAioWriteZeroes.isEmpty()) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "write zeroes " + name + ": librbd has no rbd_aio_write_zeroes");
    }
    growTo(offset + length);
    int zeroFlags = flags.contains(WriteFlag.MAY_TRIM) ? 0 : RbdNative.RBD_WRITE_ZEROES_FLAG_THICK_PROVISION;
    aio(Op.WRITE_ZEROES, offset, length, 0, zeroFlags);
  }

  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_LONG);
      check((int) rbd.rbdGetFeatures.call(image().address(), out.address()), "features");
      long features = out.get(JAVA_LONG, 0);
      check((int) rbd.rbdGetFlags.call(image().address(), out.address()), "flags");
      long imageFlags = out.get(JAVA_LONG, 0);
      if ((features & RbdNative.RBD_FEATURE_FAST_DIFF) == 0 || (imageFlags & RbdNative.RBD_FLAG_FAST_DIFF_INVALID) != 0) {
        // Without a trustworthy object map a diff reads every object: QEMU reports data then, and so does vdisk.
        return List.of(Extent.data(offset, length, offset));
      }
      // librbd before 1.17 reports wrong offsets when the start is not object-aligned (QEMU's workaround too).
      long from = offset - offset % objectSize;
      RbdDiffCollector collector = new RbdDiffCollector(offset, offset + length);
      long id = RbdCallbacks.register(collector);
      int rc;
      try {
        rc = (int) rbd.rbdDiffIterate2.call(image().address(), 0, from, offset + length - from, (byte) 1, (byte) 1, rbd.diffUpcall().address(), id);
      } finally {
        RbdCallbacks.forget(collector, id);
      }
      if (rc < 0 && rc != RbdCallbacks.STOP) {
        throw new RbdException(rc, "extents " + name + " at " + offset);
      }
      return collector.extents(rc == RbdCallbacks.STOP);
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new BlockDeviceException(BlockError.EIO, "extents " + name + ": " + e, e);
    }
  }

  @Override
  public void resize(long newSize) throws IOException {
    synchronized (resizeLock) {
      resizeLocked(newSize);
    }
  }

  /** Grows the image to {@code end} if it is shorter, as QEMU's rbd driver does before a write past the end. */
  void growTo(long end) throws IOException {
    if (end <= size) {
      return;
    }
    synchronized (resizeLock) {
      if (end > size) {
        resizeLocked(end);
      }
    }
  }

  private void resizeLocked(long newSize) throws IOException {
    try {
      check((int) rbd.rbdResize.call(image().address(), newSize), "resize to " + newSize);
      size = newSize;
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new BlockDeviceException(BlockError.EIO, "resize " + name + ": " + e, e);
    }
  }

  /** librbd's AIO calls that {@link #aio} makes: a constant per call rather than a lambda capturing its arguments. */
  private enum Op {
    READ("read"), WRITE("write"), FLUSH("flush"), DISCARD("discard"), WRITE_ZEROES("write zeroes");

    final String what;

    Op(String what) {
      this.what = what;
    }
  }

  /**
   * Submits one AIO request ({@code length} bytes at {@code offset}, native memory at {@code buf} for a read or
   * write, {@code flags} for write-zeroes) and waits for its completion; returns librbd's result, or throws for
   * {@code -errno}. Allocates only the completion.
   */
  private long aio(Op op, long offset, long length, long buf, int flags) throws IOException {
    try {
      long image = image().address();
      RbdCompletion c = new RbdCompletion(rbd);
      int rc = (int) switch (op) {
        case READ -> rbd.rbdAioRead.call(image, offset, length, buf, c.handle());
        case WRITE -> rbd.rbdAioWrite.call(image, offset, length, buf, c.handle());
        case FLUSH -> rbd.rbdAioFlush.call(image, c.handle());
        case DISCARD -> rbd.rbdAioDiscard.call(image, offset, length, c.handle());
        case WRITE_ZEROES -> rbd.rbdAioWriteZeroes.orElseThrow().call(image, offset, length, c.handle(), flags, 0);
      };
      if (rc < 0) {
        c.abandon();
        throw new RbdException(rc, op.what + " " + name + " at " + offset);
      }
      long r = c.await();
      if (r < 0) {
        throw new RbdException(r, op.what + " " + name + " at " + offset);
      }
      return r;
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new BlockDeviceException(BlockError.EIO, op.what + " " + name + ": " + e, e);
    }
  }

  /** The open image's handle; ESHUTDOWN once closed. */
  MemorySegment image() throws BlockDeviceException {
    if (image == null) {
      throw new BlockDeviceException(BlockError.ESHUTDOWN, name + ": closed");
    }
    return image;
  }

  private void check(int rc, String what) throws RbdException {
    // The message is made only for a failure: a string concatenation's first run spins a class (start-up's open).
    if (rc < 0) {
      throw new RbdException(rc, what + " " + name);
    }
  }

  private static void check(RbdNative rbd, int rc, String what) throws RbdException {
    if (rc < 0) {
      throw new RbdException(rc, what);
    }
  }

  /** Closes the image ({@code rbd_close} writes back librbd's cache) and the connection. Idempotent. */
  @Override
  public void close() throws IOException {
    MemorySegment img;
    synchronized (this) {
      img = image;
      image = null;
    }
    if (img == null) {
      return;
    }
    addresses.clear();
    try {
      int rc = (int) rbd.rbdClose.call(img.address());
      if (rc < 0) {
        throw new RbdException(rc, "close " + name);
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new BlockDeviceException(BlockError.EIO, "close " + name + ": " + e, e);
    } finally {
      cluster.close();
    }
  }

  @Override
  public String toString() {
    return "RbdDevice[" + name + (readOnly ? ", read-only" : "") + "]";
  }
}
