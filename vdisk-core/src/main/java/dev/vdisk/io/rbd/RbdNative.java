package dev.vdisk.io.rbd;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Optional;

/**
 * The binding of librados ({@code librados.so.2}) and librbd ({@code librbd.so.1}) through the FFM API: the only
 * class of vdisk that calls Ceph. Loaded on first use, so a machine without Ceph's client libraries runs every other
 * part of vdisk; there {@link #get()} throws one line naming the packages to install.
 *
 * <p>Every handle takes and returns what the C function does ({@code rados_t}, {@code rados_ioctx_t},
 * {@code rbd_image_t} and {@code rbd_completion_t} are opaque pointers); negative return values are
 * {@code -errno}. Handles are made on first use ({@link Downcall}). Two callbacks are reached through upcall stubs:
 * librbd's AIO completion ({@link #completionUpcall}, run on librbd's own threads) and {@code rbd_diff_iterate2}'s
 * extent callback ({@link #diffUpcall()}). Both find their Java receiver by the number passed as their
 * {@code void *arg} ({@link RbdCallbacks}).
 */
final class RbdNative {
  static final String LIBRADOS = "librados.so.2";
  static final String LIBRBD = "librbd.so.1";

  /** {@code RBD_FEATURE_FAST_DIFF}: the object map records which objects exist, so diffs are cheap. */
  static final long RBD_FEATURE_FAST_DIFF = 1L << 4;
  /** {@code RBD_FLAG_FAST_DIFF_INVALID}: the fast-diff map cannot be trusted until rebuilt. */
  static final long RBD_FLAG_FAST_DIFF_INVALID = 1L << 1;
  /** {@code RBD_IMAGE_OPTION_FORMAT}. */
  static final int RBD_IMAGE_OPTION_FORMAT = 0;
  /** {@code RBD_WRITE_ZEROES_FLAG_THICK_PROVISION}: keep the zeroed range allocated. */
  static final int RBD_WRITE_ZEROES_FLAG_THICK_PROVISION = 1;
  /** {@code sizeof(rbd_image_info_t)} on LP64; {@code obj_size} is its second field. */
  static final long IMAGE_INFO_SIZE = 4 * 8 + 24 + 8 + 96;
  static final long IMAGE_INFO_OBJ_SIZE = 8;
  /** {@code sizeof(rbd_snap_info_t)}: {@code uint64_t id, uint64_t size, const char *name}. */
  static final long SNAP_INFO_SIZE = 24;

  final Downcall radosCreate;
  final Downcall radosConfReadFile;
  final Downcall radosConfSet;
  final Downcall radosConnect;
  final Downcall radosShutdown;
  final Downcall radosIoctxCreate;
  final Downcall radosIoctxDestroy;
  final Downcall radosIoctxSetNamespace;

  final Downcall rbdImageOptionsCreate;
  final Downcall rbdImageOptionsDestroy;
  final Downcall rbdImageOptionsSetUint64;
  final Downcall rbdCreate4;
  final Downcall rbdOpen;
  final Downcall rbdOpenReadOnly;
  final Downcall rbdClose;
  final Downcall rbdGetSize;
  final Downcall rbdStat;
  final Downcall rbdGetFeatures;
  final Downcall rbdGetFlags;
  final Downcall rbdResize;
  final Downcall rbdSnapList;
  final Downcall rbdSnapListEnd;
  final Downcall rbdDiffIterate2;
  final Downcall rbdAioCreateCompletion;
  final Downcall rbdAioGetReturnValue;
  final Downcall rbdAioRelease;
  final Downcall rbdAioRead;
  final Downcall rbdAioWrite;
  final Downcall rbdAioDiscard;
  final Downcall rbdAioFlush;
  /** {@code rbd_aio_write_zeroes}, absent before librbd 1.13 (Ceph 15). */
  final Optional<Downcall> rbdAioWriteZeroes;
  final Downcall strerror;

  /** {@code void (*)(rbd_completion_t, void *)}: calls {@link RbdCallbacks#completed}. */
  final MemorySegment completionUpcall;
  /** {@code int (*)(uint64_t, size_t, int, void *)}: calls {@link RbdCallbacks#diffExtent}; made on first use. */
  private volatile MemorySegment diffUpcall;

  private static final class Holder {
    static final Object INSTANCE = load();

    private static Object load() {
      try {
        return new RbdNative();
      } catch (Throwable e) {
        return e;
      }
    }
  }

  /**
   * The binding, loading the libraries on first use.
   *
   * @throws BlockDeviceException ENOTSUP in one line when librbd or librados cannot be loaded
   */
  static RbdNative get() throws BlockDeviceException {
    if (Holder.INSTANCE instanceof RbdNative n) {
      return n;
    }
    Throwable e = (Throwable) Holder.INSTANCE;
    throw new BlockDeviceException(BlockError.ENOTSUP, "rbd: " + LIBRBD + " and " + LIBRADOS
        + " cannot be loaded (" + e.getMessage() + ") (expected: Ceph's client libraries, Debian packages librbd1 and librados2)", e);
  }

  private RbdNative() throws ReflectiveOperationException {
    Linker linker = Linker.nativeLinker();
    SymbolLookup rados = SymbolLookup.libraryLookup(LIBRADOS, Arena.global());
    SymbolLookup rbd = SymbolLookup.libraryLookup(LIBRBD, Arena.global());
    radosCreate = bind(rados, "rados_create", JAVA_INT, ADDRESS, ADDRESS);
    radosConfReadFile = bind(rados, "rados_conf_read_file", JAVA_INT, ADDRESS, ADDRESS);
    radosConfSet = bind(rados, "rados_conf_set", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    radosConnect = bind(rados, "rados_connect", JAVA_INT, ADDRESS);
    radosShutdown = bindVoid(rados, "rados_shutdown", ADDRESS);
    radosIoctxCreate = bind(rados, "rados_ioctx_create", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    radosIoctxDestroy = bindVoid(rados, "rados_ioctx_destroy", ADDRESS);
    radosIoctxSetNamespace = bindVoid(rados, "rados_ioctx_set_namespace", ADDRESS, ADDRESS);

    rbdImageOptionsCreate = bindVoid(rbd, "rbd_image_options_create", ADDRESS);
    rbdImageOptionsDestroy = bindVoid(rbd, "rbd_image_options_destroy", ADDRESS);
    rbdImageOptionsSetUint64 = bind(rbd, "rbd_image_options_set_uint64", JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG);
    rbdCreate4 = bind(rbd, "rbd_create4", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
    rbdOpen = bind(rbd, "rbd_open", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    rbdOpenReadOnly = bind(rbd, "rbd_open_read_only", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    rbdClose = bind(rbd, "rbd_close", JAVA_INT, ADDRESS);
    rbdGetSize = bind(rbd, "rbd_get_size", JAVA_INT, ADDRESS, ADDRESS);
    rbdStat = bind(rbd, "rbd_stat", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
    rbdGetFeatures = bind(rbd, "rbd_get_features", JAVA_INT, ADDRESS, ADDRESS);
    rbdGetFlags = bind(rbd, "rbd_get_flags", JAVA_INT, ADDRESS, ADDRESS);
    rbdResize = bind(rbd, "rbd_resize", JAVA_INT, ADDRESS, JAVA_LONG);
    rbdSnapList = bind(rbd, "rbd_snap_list", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    rbdSnapListEnd = bindVoid(rbd, "rbd_snap_list_end", ADDRESS);
    rbdDiffIterate2 = bind(rbd, "rbd_diff_iterate2", JAVA_INT,
        ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_BYTE, JAVA_BYTE, ADDRESS, ADDRESS);
    rbdAioCreateCompletion = bind(rbd, "rbd_aio_create_completion", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    rbdAioGetReturnValue = bind(rbd, "rbd_aio_get_return_value", JAVA_LONG, ADDRESS);
    rbdAioRelease = bindVoid(rbd, "rbd_aio_release", ADDRESS);
    rbdAioRead = bind(rbd, "rbd_aio_read", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS);
    rbdAioWrite = bind(rbd, "rbd_aio_write", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS);
    rbdAioDiscard = bind(rbd, "rbd_aio_discard", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    rbdAioFlush = bind(rbd, "rbd_aio_flush", JAVA_INT, ADDRESS, ADDRESS);
    rbdAioWriteZeroes = rbd.find("rbd_aio_write_zeroes").map(s -> new Downcall(s,
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT)));
    strerror = new Downcall(linker.defaultLookup().findOrThrow("strerror"), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    completionUpcall = linker.upcallStub(
        MethodHandles.lookup().findStatic(RbdCallbacks.class, "completed", MethodType.methodType(void.class, MemorySegment.class, MemorySegment.class)),
        FunctionDescriptor.ofVoid(ADDRESS, ADDRESS), Arena.global());
  }

  /** The extent callback of {@code rbd_diff_iterate2}, made on first use (only map, convert and block status need it). */
  MemorySegment diffUpcall() throws ReflectiveOperationException {
    MemorySegment stub = diffUpcall;
    if (stub == null) {
      stub = Linker.nativeLinker().upcallStub(MethodHandles.lookup().findStatic(RbdCallbacks.class, "diffExtent",
              MethodType.methodType(int.class, long.class, long.class, int.class, MemorySegment.class)),
          FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS), Arena.global());
      diffUpcall = stub;
    }
    return stub;
  }

  /**
   * A C function whose downcall handle is made on first use: each distinct C signature costs the FFM linker a
   * generated stub (tens of milliseconds on a cold JVM), and most commands call only a few of these functions.
   */
  static final class Downcall {
    private final MemorySegment symbol;
    private final FunctionDescriptor descriptor;
    private volatile MethodHandle handle;

    Downcall(MemorySegment symbol, FunctionDescriptor descriptor) {
      this.symbol = symbol;
      this.descriptor = descriptor;
    }

    /** The handle (two threads may both make it the first time; they get equal handles). */
    MethodHandle h() {
      MethodHandle m = handle;
      if (m == null) {
        m = Linker.nativeLinker().downcallHandle(symbol, descriptor);
        handle = m;
      }
      return m;
    }
  }

  private static Downcall bind(SymbolLookup lib, String name, MemoryLayout result, MemoryLayout... args) {
    return new Downcall(lib.findOrThrow(name), FunctionDescriptor.of(result, args));
  }

  private static Downcall bindVoid(SymbolLookup lib, String name, MemoryLayout... args) {
    return new Downcall(lib.findOrThrow(name), FunctionDescriptor.ofVoid(args));
  }

  /** The C library's text for {@code errno} (a positive number), e.g. "No such file or directory". */
  String describe(int errno) {
    try {
      MemorySegment s = (MemorySegment) strerror.h().invokeExact(errno);
      return s.reinterpret(256).getString(0);
    } catch (Throwable e) {
      return "errno " + errno;
    }
  }
}
