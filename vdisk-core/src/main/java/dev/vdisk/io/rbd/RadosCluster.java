package dev.vdisk.io.rbd;

import static java.lang.foreign.ValueLayout.ADDRESS;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection to a Ceph cluster ({@code rados_t}) with an I/O context on one pool and namespace
 * ({@code rados_ioctx_t}), made as QEMU's rbd driver makes it: {@code rados_create} with the client id, the
 * ceph.conf (a named one must be readable; without one librados' default search, whose failure is not an error),
 * the name's librados options, {@code rados_connect}, {@code rados_ioctx_create}, the namespace.
 *
 * <p><b>Never a hang.</b> Before the name's own options (which override them) vdisk sets librados' timeouts, which
 * default to waiting for ever: {@value #MOUNT_TIMEOUT} s to connect ({@code client_mount_timeout}), and
 * {@value #OP_TIMEOUT} s for each monitor and OSD request ({@code rados_mon_op_timeout}, {@code
 * rados_osd_op_timeout}), so a cluster that is down or goes away fails requests with ETIMEDOUT. QEMU sets none of them.
 * What the OSD timeout costs per request (librados schedules and cancels a timer event for each op) does not show
 * beside the rest: 40,000 4 KiB reads at depth 16, 6 alternating rounds on a loaded 2-core machine, process CPU
 * (medians) qemu-img bench 0.86 s without it and 0.83 s with it, vdisk 1.07 s with it and 1.06 s without.
 */
final class RadosCluster implements Closeable {
  /** Seconds {@code rados_connect} waits for the monitors. */
  static final String MOUNT_TIMEOUT = "20";
  /** Seconds a monitor or OSD request waits for an answer. */
  static final String OP_TIMEOUT = "30";
  /** {@code rados_connect} calls this process made (each one a monitor session). */
  static final AtomicInteger CONNECTS = new AtomicInteger();

  private final RbdNative rbd;
  private final RbdName name;
  private MemorySegment cluster;
  private MemorySegment ioctx;

  private RadosCluster(RbdNative rbd, RbdName name) {
    this.rbd = rbd;
    this.name = name;
  }

  /**
   * Connects to the cluster {@code name} names and opens its pool, or takes the connection made ahead for that name
   * ({@link ConnectionAhead}) and sets {@code cacheOptions} on it (before {@code rbd_open}, which reads them).
   *
   * @param cacheOptions librados options that follow the cache mode (QEMU's {@code rbd_cache}); they override the
   *     name's own options, as in QEMU
   * @throws BlockDeviceException one line: the library is missing, the conf unreadable, the cluster unreachable
   *     within the timeout, the pool missing
   */
  static RadosCluster connect(RbdName name, Map<String, String> cacheOptions) throws IOException {
    RadosCluster ahead = ConnectionAhead.take(name);
    if (ahead == null) {
      return connectNow(name, cacheOptions);
    }
    try (Arena arena = Arena.ofConfined()) {
      for (Map.Entry<String, String> o : cacheOptions.entrySet()) {
        ahead.set(arena, o.getKey(), o.getValue());
      }
      return ahead;
    } catch (IOException | RuntimeException | Error e) {
      ahead.close();
      throw e;
    } catch (Throwable e) {
      ahead.close();
      throw new BlockDeviceException(BlockError.EIO, name + ": " + e, e);
    }
  }

  /** {@link #connect} without looking for a connection made ahead. */
  static RadosCluster connectNow(RbdName name, Map<String, String> cacheOptions) throws IOException {
    RadosCluster c = new RadosCluster(RbdNative.get(), name);
    try {
      c.connect(cacheOptions);
      return c;
    } catch (IOException | RuntimeException | Error e) {
      c.close();
      throw e;
    } catch (Throwable e) {
      c.close();
      throw new BlockDeviceException(BlockError.EIO, name + ": " + e, e);
    }
  }

  private void connect(Map<String, String> cacheOptions) throws Throwable {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(ADDRESS);
      MemorySegment id = name.id() == null ? MemorySegment.NULL : arena.allocateFrom(name.id());
      check((int) rbd.radosCreate.call(out.address(), id.address()), "rados_create (client id " + name.id() + ")");
      cluster = out.get(ADDRESS, 0);
      MemorySegment conf = name.conf() == null ? MemorySegment.NULL : arena.allocateFrom(name.conf());
      int rc = (int) rbd.radosConfReadFile.call(cluster.address(), conf.address());
      if (rc < 0 && name.conf() != null) {
        throw new RbdException(rc, name + ": reading conf " + name.conf());
      }
      Map<String, String> options = new LinkedHashMap<>();
      options.put("client_mount_timeout", MOUNT_TIMEOUT);
      options.put("rados_mon_op_timeout", OP_TIMEOUT);
      options.put("rados_osd_op_timeout", OP_TIMEOUT);
      options.putAll(name.options());
      // QEMU's key-secret: the key itself, from the secret, after the name's options as QEMU sets it.
      String secret = options.remove(RbdName.KEY_SECRET);
      if (secret != null) {
        options.put("key", RbdSecrets.key(secret, name));
      }
      // After the name's options, as QEMU sets rbd_cache after them: the cache mode decides.
      options.putAll(cacheOptions);
      for (Map.Entry<String, String> o : options.entrySet()) {
        set(arena, o.getKey(), o.getValue());
      }
      CONNECTS.incrementAndGet();
      rc = (int) rbd.radosConnect.call(cluster.address());
      if (rc < 0) {
        throw new RbdException(rc, name + ": cannot connect to the cluster" + (name.conf() == null ? "" : " of " + name.conf())
            + (rc == -RbdException.ETIMEDOUT ? " (no answer within client_mount_timeout=" + options.get("client_mount_timeout") + " s)" : ""));
      }
      rc = (int) rbd.radosIoctxCreate.call(cluster.address(), arena.allocateFrom(name.pool()).address(), out.address());
      if (rc < 0) {
        throw rc == -RbdException.ENOENT
            ? new BlockDeviceException(BlockError.EINVAL, name + ": pool '" + name.pool() + "' does not exist (expected: an existing pool)")
            : new RbdException(rc, name + ": opening pool '" + name.pool() + "'");
      }
      ioctx = out.get(ADDRESS, 0);
      if (!name.namespace().isEmpty()) {
        rbd.radosIoctxSetNamespace.call(ioctx.address(), arena.allocateFrom(name.namespace()).address());
      }
    }
  }

  /** Sets one librados option ({@code rados_conf_set}); a refusal is one line naming it. */
  private void set(Arena arena, String key, String value) throws Throwable {
    int rc = (int) rbd.radosConfSet.call(cluster.address(), arena.allocateFrom(key).address(), arena.allocateFrom(value).address());
    if (rc < 0) {
      throw new BlockDeviceException(BlockError.EINVAL, name + ": librados option " + key + "=" + value
          + " refused (" + new RbdException(rc, "rados_conf_set").getMessage() + ") (expected: an option librados knows, with a valid value)");
    }
  }

  private static void check(int rc, String what) throws RbdException {
    if (rc < 0) {
      throw new RbdException(rc, what);
    }
  }

  /** The binding. */
  RbdNative rbd() {
    return rbd;
  }

  /** The pool's (and namespace's) I/O context. */
  MemorySegment ioctx() {
    return ioctx;
  }

  /** Destroys the I/O context and shuts the connection down. Idempotent. */
  @Override
  public void close() {
    try {
      if (ioctx != null) {
        rbd.radosIoctxDestroy.call(ioctx.address());
        ioctx = null;
      }
      if (cluster != null) {
        rbd.radosShutdown.call(cluster.address());
        cluster = null;
      }
    } catch (Throwable e) {
      throw new IllegalStateException("rados shutdown: " + e, e);
    }
  }
}
