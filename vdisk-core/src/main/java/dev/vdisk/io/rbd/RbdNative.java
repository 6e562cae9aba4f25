package dev.vdisk.io.rbd;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.linux.SharedDowncall;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The binding of librados ({@code librados.so.2}) and librbd ({@code librbd.so.1}) through the FFM API: the only
 * class of vdisk that calls Ceph. Loaded on first use, so a machine without Ceph's client libraries runs every other
 * part of vdisk; there {@link #get()} throws one line naming the packages to install.
 *
 * <p>Every handle takes and returns what the C function does ({@code rados_t}, {@code rados_ioctx_t},
 * {@code rbd_image_t} and {@code rbd_completion_t} are opaque pointers); negative return values are
 * {@code -errno}. Every function is called through one downcall handle ({@link Downcall}). Two callbacks are reached through upcall stubs:
 * librbd's AIO completion ({@link #completionUpcall()}, run on librbd's own threads) and {@code rbd_diff_iterate2}'s
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
  final Downcall rbdSnapCreate;
  final Downcall rbdSnapRemove;
  final Downcall rbdSnapRollback;
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

  /**
   * The one shape of both callbacks' upcall stubs, {@code long f(long, long, long, long)}: the JDK specializes an upcall
   * once per descriptor (a generated class and its method-handle classes, on the thread that connects ahead while the
   * command opens the image), so two signatures cost two. It takes both C signatures on x86-64 and AArch64 as {@link
   * Downcall} does the functions: integer and pointer arguments arrive in the same registers, the bits of an argument
   * the C caller did not pass (or of an {@code int}'s upper half) are ignored, and a C caller reads only the result's
   * bits its type has (none for {@code void}).
   */
  static final FunctionDescriptor CALLBACK = FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
  private static final MethodType CALLBACK_TYPE = MethodType.methodType(long.class, long.class, long.class, long.class,
      long.class);

  /** {@code void (*)(rbd_completion_t, void *)}: calls {@link RbdCallbacks#completed}; made on first use. */
  private volatile MemorySegment completionUpcall;
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

  private RbdNative() {
    SymbolLookup rados = SymbolLookup.libraryLookup(LIBRADOS, Arena.global());
    SymbolLookup rbd = SymbolLookup.libraryLookup(LIBRBD, Arena.global());
    radosCreate = bind(rados, "rados_create");
    radosConfReadFile = bind(rados, "rados_conf_read_file");
    radosConfSet = bind(rados, "rados_conf_set");
    radosConnect = bind(rados, "rados_connect");
    radosShutdown = bind(rados, "rados_shutdown");
    radosIoctxCreate = bind(rados, "rados_ioctx_create");
    radosIoctxDestroy = bind(rados, "rados_ioctx_destroy");
    radosIoctxSetNamespace = bind(rados, "rados_ioctx_set_namespace");

    rbdImageOptionsCreate = bind(rbd, "rbd_image_options_create");
    rbdImageOptionsDestroy = bind(rbd, "rbd_image_options_destroy");
    rbdImageOptionsSetUint64 = bind(rbd, "rbd_image_options_set_uint64");
    rbdCreate4 = bind(rbd, "rbd_create4");
    rbdOpen = bind(rbd, "rbd_open");
    rbdOpenReadOnly = bind(rbd, "rbd_open_read_only");
    rbdClose = bind(rbd, "rbd_close");
    rbdGetSize = bind(rbd, "rbd_get_size");
    rbdStat = bind(rbd, "rbd_stat");
    rbdGetFeatures = bind(rbd, "rbd_get_features");
    rbdGetFlags = bind(rbd, "rbd_get_flags");
    rbdResize = bind(rbd, "rbd_resize");
    rbdSnapList = bind(rbd, "rbd_snap_list");
    rbdSnapListEnd = bind(rbd, "rbd_snap_list_end");
    rbdSnapCreate = bind(rbd, "rbd_snap_create");
    rbdSnapRemove = bind(rbd, "rbd_snap_remove");
    rbdSnapRollback = bind(rbd, "rbd_snap_rollback");
    rbdDiffIterate2 = bind(rbd, "rbd_diff_iterate2");
    rbdAioCreateCompletion = bind(rbd, "rbd_aio_create_completion");
    rbdAioGetReturnValue = bind(rbd, "rbd_aio_get_return_value");
    rbdAioRelease = bind(rbd, "rbd_aio_release");
    rbdAioRead = bind(rbd, "rbd_aio_read");
    rbdAioWrite = bind(rbd, "rbd_aio_write");
    rbdAioDiscard = bind(rbd, "rbd_aio_discard");
    rbdAioFlush = bind(rbd, "rbd_aio_flush");
    rbdAioWriteZeroes = rbd.find("rbd_aio_write_zeroes").map(Downcall::new);
  }

  /**
   * The C library's {@code strerror}, looked up when an error is first described: the C library's lookup (the JDK's
   * first {@code defaultLookup}) is not on the connect's path, which it delayed when the command's {@code vdisk-link}
   * thread had not made it yet.
   */
  private static final class Strerror {
    static final Downcall CALL = new Downcall(Linker.nativeLinker().defaultLookup().findOrThrow("strerror"));
  }

  /**
   * librbd's AIO completion callback, made on first use (commands that only open an image never need it) or ahead
   * ({@link #linkCallbacks}). Made once: a caller that asks while another thread makes it waits for that one (the JDK
   * generates a stub and its method-handle classes, tens of milliseconds), rather than making a second.
   */
  MemorySegment completionUpcall() throws ReflectiveOperationException {
    MemorySegment stub = completionUpcall;
    if (stub == null) {
      synchronized (this) {
        stub = completionUpcall;
        if (stub == null) {
          // void (*)(rbd_completion_t, void *) taken as longs (the same registers): no MemorySegment per callback.
          stub = Linker.nativeLinker().upcallStub(MethodHandles.lookup().findStatic(RbdCallbacks.class, "completed",
              CALLBACK_TYPE), CALLBACK, Arena.global());
          completionUpcall = stub;
          STUBS.incrementAndGet();
        }
      }
    }
    return stub;
  }

  /**
   * The extent callback of {@code rbd_diff_iterate2}, made on first use (only map, convert and block status need it)
   * or ahead ({@link #linkCallbacks}); made once, as {@link #completionUpcall}.
   */
  MemorySegment diffUpcall() throws ReflectiveOperationException {
    MemorySegment stub = diffUpcall;
    if (stub == null) {
      synchronized (this) {
        stub = diffUpcall;
        if (stub == null) {
          stub = Linker.nativeLinker().upcallStub(MethodHandles.lookup().findStatic(RbdCallbacks.class, "diffExtent",
              CALLBACK_TYPE), CALLBACK, Arena.global());
          diffUpcall = stub;
          STUBS.incrementAndGet();
        }
      }
    }
    return stub;
  }

  /** How many upcall stubs this process has made: two at most (what tests count). */
  static final AtomicInteger STUBS = new AtomicInteger();

  /**
   * Calls through a method handle after which the JDK has replaced its generic invoker with one made for that handle
   * (a class generated on the calling thread): {@code java.lang.invoke.MethodHandle.CUSTOMIZE_THRESHOLD} (127 unless
   * set; -1 never) plus one, at least one.
   */
  static final int CUSTOMIZED_AFTER = Math.max(1,
      Integer.getInteger("java.lang.invoke.MethodHandle.CUSTOMIZE_THRESHOLD", 127) + 1);

  /**
   * Makes both callbacks now and calls them, so that the first requests and the first extent walk wait for neither:
   * what a connection made ahead for a command that makes requests does once it is made, while the command opens the
   * image and its target. Each stub is called through the downcall as librbd calls it, with an argument no receiver
   * is registered under ({@link RbdCallbacks#NOBODY}, {@link RbdCallbacks#NO_DIFF}), so the calls do nothing but what
   * the JDK does on its own at a stub's first calls: it links the stub's call into Java at the first (an invoker class
   * generated, 10 ms and more on a loaded machine), and after {@link #CUSTOMIZED_AFTER} calls customizes the handles
   * of the upcall and of the downcall (four classes). Those fell on librbd's callback thread at the first completion
   * and the 128th, every other completion waiting behind it, on the requesting thread at its 128th request, or on the
   * command's thread in its first extent walk. The extent callback is called once: a walk calls it once per run of
   * objects, rarely 128 times. A failure is left for the request that needs the callback to report.
   *
   * @param completions how many times to call the completion callback: 1 to link it, {@link #CUSTOMIZED_AFTER} for a
   *     command that makes more requests than that (each call costs tens of microseconds, interpreted)
   * @return whether both callbacks were made and answered every call as a callback for nobody does
   */
  static boolean linkCallbacks(int completions) {
    try {
      RbdNative n = get();
      Downcall completion = new Downcall(n.completionUpcall());
      boolean nobody = true;
      for (int i = 0; i < Math.max(1, completions); i++) {
        nobody &= completion.call(0, RbdCallbacks.NOBODY, 0, 0) == 0;
      }
      return nobody && (int) new Downcall(n.diffUpcall()).call(0, 0, 0, RbdCallbacks.NO_DIFF) == RbdCallbacks.STOP;
    } catch (Throwable e) {
      return false; // reported by the request that makes it again
    }
  }

  /**
   * A C function of librados or librbd, called through the one downcall shape {@link SharedDowncall#SHAPE}: each
   * distinct C signature would cost the FFM linker a generated stub (tens of milliseconds of CPU each on a cold JVM,
   * eight of them for {@code info}), so every function is called as {@code long f(long, long, long, long, long, long,
   * long, long)}, the way a C caller of an unprototyped function would on the ABIs vdisk runs on (x86-64 System V,
   * AArch64): pointers and integers go in the same registers, arguments a function does not take are ignored by it
   * (the caller removes them), and a narrower result is the low bits of the register. So callers pass pointers as
   * {@link MemorySegment#address()} (their memory must stay alive for the call, as for any downcall) and cast
   * {@code int} results with {@code (int)}; a {@code void} function's result is meaningless. The shape, errno capture
   * included (into a segment nobody reads: these functions return {@code -errno}), is the system calls' own, so the
   * process links one stub, not two: the command's {@code vdisk-link} thread links it, and that link needs nothing but
   * the linker and the errno option ({@code LinuxNative.Calls}).
   *
   * <p>The link does not run beside the libraries' load, though, which is why the connect starts a link's length after
   * it. The JVM looks up a JDK native method with {@code dlsym} the first time it is called, and {@code dlsym} waits
   * for glibc's loader lock, which the connect-ahead thread's {@code dlopen} of librados and librbd holds throughout
   * (libceph-common's relocations and static constructors, 15-25 ms). The link's first calls of such methods ({@code
   * ForeignLinkerSupport.isSupported0} in {@code Linker.nativeLinker()}, then {@code NativeEntryPoint.registerNatives}
   * and {@code ClassLoader.findBootstrapClass} further in, {@code -Xlog:jni+resolve}) wait for it: traces of a convert
   * off RBD (sched_switch and sched_wakeup with stacks, 2026-12-05, 2 cores under load) had {@code vdisk-link} blocked
   * in {@code dlsym} for 10-30 ms in 5 runs of 9, woken by the load's unlock, and 2-7 ms on a class the connect thread
   * was initializing; the link's own CPU is 17-22 ms. Timeline marks, median of 28 runs: libraries loaded 17 ms after
   * {@code main}, link done 33, {@code rados_create} returned 35, connected 45, first read 60. Neither starting the
   * link's thread before the connect's (10 alternating pairs: link done 34.5 against 33.6 ms) nor calling {@code
   * Linker.nativeLinker()} before the load (28 pairs: first read 60.8 against 60.3 ms) moved it: the link's later
   * look-ups still fall inside the load.
   */
  static final class Downcall {
    /**
     * The handle of {@link SharedDowncall#SHAPE}, taking the function's address and a capture segment first; made on
     * the first call of any function.
     */
    private static volatile MethodHandle handle;

    private final MemorySegment symbol;

    Downcall(MemorySegment symbol) {
      this.symbol = symbol;
    }

    private static MethodHandle handle() {
      MethodHandle m = handle;
      if (m == null) {
        m = SharedDowncall.handle(); // two threads may both ask; the JDK links once and both get the same handle
        handle = m;
      }
      return m;
    }

    long call(long a) throws Throwable {
      return call(a, 0, 0, 0, 0, 0, 0, 0);
    }

    long call(long a, long b) throws Throwable {
      return call(a, b, 0, 0, 0, 0, 0, 0);
    }

    long call(long a, long b, long c) throws Throwable {
      return call(a, b, c, 0, 0, 0, 0, 0);
    }

    long call(long a, long b, long c, long d) throws Throwable {
      return call(a, b, c, d, 0, 0, 0, 0);
    }

    long call(long a, long b, long c, long d, long e) throws Throwable {
      return call(a, b, c, d, e, 0, 0, 0);
    }

    long call(long a, long b, long c, long d, long e, long f) throws Throwable {
      return call(a, b, c, d, e, f, 0, 0);
    }

    long call(long a, long b, long c, long d, long e, long f, long g, long h) throws Throwable {
      return (long) handle().invokeExact(symbol, SharedDowncall.ignoredCapture(), a, b, c, d, e, f, g, h);
    }
  }

  private static Downcall bind(SymbolLookup lib, String name) {
    return new Downcall(lib.findOrThrow(name));
  }

  /** The C library's text for {@code errno} (a positive number), e.g. "No such file or directory". */
  String describe(int errno) {
    try {
      return MemorySegment.ofAddress(Strerror.CALL.call(errno)).reinterpret(256).getString(0);
    } catch (Throwable e) {
      return "errno " + errno;
    }
  }
}
