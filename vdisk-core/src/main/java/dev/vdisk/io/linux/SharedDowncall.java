package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The one downcall shape of every C function vdisk calls on its hot and start-up paths: {@code long f(long, long,
 * long, long, long, long, long, long)} with errno captured. The JDK generates a stub and its method-handle classes for
 * each distinct pair of descriptor and options it links (about 20 ms of CPU on a cold JVM, none of it in the AOT
 * cache), and caches the handle by that pair, one link at a time per pair. The system calls ({@link LinuxNative}'s
 * {@code syscall(2)}) and the Ceph binding ({@code io.rbd}) link this same pair, so a process links it once: a
 * command on an RBD image linked two shapes, on two threads at its start, beside its parsing and librbd's load.
 *
 * <p>Arguments a function does not take are passed as 0 and ignored by it (pointers and integers travel in the same
 * registers and stack slots on x86-64 and AArch64; the caller removes them); a narrower result is the low bits.
 *
 * <p>What the link costs is the JDK's, not this shape's (measured 2026-12-05 on JDK 25, 2 cores, under load): 20-48 ms
 * of CPU on a convert's vdisk-link thread (perf record), a median of 36 on a cold JVM without vdisk's caches. It spins
 * classes that JDK 25's AOT cache does not keep, {@code -XX:+AOTAdapterCaching -XX:+AOTStubCaching} included: the stub,
 * four pattern-switch classes of the linker's code and 20 lambda forms on the link's thread, then a pattern-switch
 * class ({@code allocateFrom}'s) and four lambda forms at the first calls (-Xlog:class+init of a raw to raw convert).
 * No descriptor links cheaper: one, four or eight {@code long}s, with or without the errno capture, 49-57 ms of CPU
 * each (medians of 6 cold JVMs); the JDK's interpreted bindings ({@code
 * -Djdk.internal.foreign.DowncallLinker.USE_SPEC=false}) made a convert wait longer; binding the symbol costs under a
 * millisecond. A convert between local files waits for this link: see {@link LinuxNative#linkAhead()}.
 */
public final class SharedDowncall {
  /** The descriptor: eight {@code long} arguments, a {@code long} result. */
  public static final FunctionDescriptor SHAPE = FunctionDescriptor.of(JAVA_LONG,
      JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);

  private SharedDowncall() {}

  /**
   * The address-less handle, {@code (MemorySegment function, MemorySegment capture, long x 8) long}: linked by the
   * first caller in the process (a caller that asks while another thread links waits for that link, the JDK's cache
   * of links being per descriptor and options), the same handle after.
   *
   * @throws IllegalCallerException if the JVM refuses native access to this module
   */
  public static MethodHandle handle() {
    return Linker.nativeLinker().downcallHandle(SHAPE, LinuxNative.Calls.ERRNO_OPTION);
  }

  /**
   * A capture segment for callers that never read errno (the Ceph binding: librbd and librados return {@code
   * -errno}): shared by every thread, so its contents are whatever the last call left, and meaningless.
   */
  public static MemorySegment ignoredCapture() {
    return Ignored.CAPTURE;
  }

  private static final class Ignored {
    static final MemorySegment CAPTURE = Arena.global().allocate(LinuxNative.Calls.CAPTURE);
  }
}
