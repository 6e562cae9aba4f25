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
 * {@code -errno}. Two callbacks are reached through upcall stubs made once here: librbd's AIO completion
 * ({@link #COMPLETION_UPCALL}, run on librbd's own threads) and {@code rbd_diff_iterate2}'s extent callback.
 * Both find their Java receiver by the number passed as their {@code void *arg} ({@link RbdCallbacks}).
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

  final MethodHandle radosCreate;
  final MethodHandle radosConfReadFile;
  final MethodHandle radosConfSet;
  final MethodHandle radosConnect;
  final MethodHandle radosShutdown;
  final MethodHandle radosIoctxCreate;
  final MethodHandle radosIoctxDestroy;
  final MethodHandle radosIoctxSetNamespace;

  final MethodHandle rbdImageOptionsCreate;
  final MethodHandle rbdImageOptionsDestroy;
  final MethodHandle rbdImageOptionsSetUint64;
  final MethodHandle rbdCreate4;
  final MethodHandle rbdOpen;
  final MethodHandle rbdOpenReadOnly;
  final MethodHandle rbdClose;
  final MethodHandle rbdGetSize;
  final MethodHandle rbdStat;
  final MethodHandle rbdGetFeatures;
  final MethodHandle rbdGetFlags;
  final MethodHandle rbdResize;
  final MethodHandle rbdDiffIterate2;
  final MethodHandle rbdAioCreateCompletion;
  final MethodHandle rbdAioGetReturnValue;
  final MethodHandle rbdAioRelease;
  final MethodHandle rbdAioRead;
  final MethodHandle rbdAioWrite;
  final MethodHandle rbdAioDiscard;
  final MethodHandle rbdAioFlush;
  /** {@code rbd_aio_write_zeroes}, absent before librbd 1.13 (Ceph 15). */
  final Optional<MethodHandle> rbdAioWriteZeroes;
  final MethodHandle strerror;

  /** {@code void (*)(rbd_completion_t, void *)}: calls {@link RbdCallbacks#completed}. */
  final MemorySegment completionUpcall;
  /** {@code int (*)(uint64_t, size_t, int, void *)}: calls {@link RbdCallbacks#diffExtent}. */
  final MemorySegment diffUpcall;

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
    radosCreate = bind(linker, rados, "rados_create", JAVA_INT, ADDRESS, ADDRESS);
    radosConfReadFile = bind(linker, rados, "rados_conf_read_file", JAVA_INT, ADDRESS, ADDRESS);
    radosConfSet = bind(linker, rados, "rados_conf_set", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    radosConnect = bind(linker, rados, "rados_connect", JAVA_INT, ADDRESS);
    radosShutdown = bindVoid(linker, rados, "rados_shutdown", ADDRESS);
    radosIoctxCreate = bind(linker, rados, "rados_ioctx_create", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    radosIoctxDestroy = bindVoid(linker, rados, "rados_ioctx_destroy", ADDRESS);
    radosIoctxSetNamespace = bindVoid(linker, rados, "rados_ioctx_set_namespace", ADDRESS, ADDRESS);

    rbdImageOptionsCreate = bindVoid(linker, rbd, "rbd_image_options_create", ADDRESS);
    rbdImageOptionsDestroy = bindVoid(linker, rbd, "rbd_image_options_destroy", ADDRESS);
    rbdImageOptionsSetUint64 = bind(linker, rbd, "rbd_image_options_set_uint64", JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG);
    rbdCreate4 = bind(linker, rbd, "rbd_create4", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
    rbdOpen = bind(linker, rbd, "rbd_open", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    rbdOpenReadOnly = bind(linker, rbd, "rbd_open_read_only", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    rbdClose = bind(linker, rbd, "rbd_close", JAVA_INT, ADDRESS);
    rbdGetSize = bind(linker, rbd, "rbd_get_size", JAVA_INT, ADDRESS, ADDRESS);
    rbdStat = bind(linker, rbd, "rbd_stat", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
    rbdGetFeatures = bind(linker, rbd, "rbd_get_features", JAVA_INT, ADDRESS, ADDRESS);
    rbdGetFlags = bind(linker, rbd, "rbd_get_flags", JAVA_INT, ADDRESS, ADDRESS);
    rbdResize = bind(linker, rbd, "rbd_resize", JAVA_INT, ADDRESS, JAVA_LONG);
    rbdDiffIterate2 = bind(linker, rbd, "rbd_diff_iterate2", JAVA_INT,
        ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_BYTE, JAVA_BYTE, ADDRESS, ADDRESS);
    rbdAioCreateCompletion = bind(linker, rbd, "rbd_aio_create_completion", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    rbdAioGetReturnValue = bind(linker, rbd, "rbd_aio_get_return_value", JAVA_LONG, ADDRESS);
    rbdAioRelease = bindVoid(linker, rbd, "rbd_aio_release", ADDRESS);
    rbdAioRead = bind(linker, rbd, "rbd_aio_read", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS);
    rbdAioWrite = bind(linker, rbd, "rbd_aio_write", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS);
    rbdAioDiscard = bind(linker, rbd, "rbd_aio_discard", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    rbdAioFlush = bind(linker, rbd, "rbd_aio_flush", JAVA_INT, ADDRESS, ADDRESS);
    rbdAioWriteZeroes = rbd.find("rbd_aio_write_zeroes").map(s -> linker.downcallHandle(s,
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT)));
    strerror = linker.downcallHandle(linker.defaultLookup().findOrThrow("strerror"),
        FunctionDescriptor.of(ADDRESS, JAVA_INT));

    MethodHandles.Lookup lookup = MethodHandles.lookup();
    completionUpcall = linker.upcallStub(
        lookup.findStatic(RbdCallbacks.class, "completed", MethodType.methodType(void.class, MemorySegment.class, MemorySegment.class)),
        FunctionDescriptor.ofVoid(ADDRESS, ADDRESS), Arena.global());
    diffUpcall = linker.upcallStub(
        lookup.findStatic(RbdCallbacks.class, "diffExtent", MethodType.methodType(int.class, long.class, long.class, int.class, MemorySegment.class)),
        FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS), Arena.global());
  }

  private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, java.lang.foreign.MemoryLayout result,
      java.lang.foreign.MemoryLayout... args) {
    return linker.downcallHandle(lib.findOrThrow(name), FunctionDescriptor.of(result, args));
  }

  private static MethodHandle bindVoid(Linker linker, SymbolLookup lib, String name, java.lang.foreign.MemoryLayout... args) {
    return linker.downcallHandle(lib.findOrThrow(name), FunctionDescriptor.ofVoid(args));
  }

  /** The C library's text for {@code errno} (a positive number), e.g. "No such file or directory". */
  String describe(int errno) {
    try {
      MemorySegment s = (MemorySegment) strerror.invokeExact(errno);
      return s.reinterpret(256).getString(0);
    } catch (Throwable e) {
      return "errno " + errno;
    }
  }
}
