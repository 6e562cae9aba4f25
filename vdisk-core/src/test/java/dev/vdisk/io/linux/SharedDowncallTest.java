package dev.vdisk.io.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class SharedDowncallTest {
  /** EBADF: what close(2) of descriptor -1 fails with. */
  private static final int EBADF = 9;

  /**
   * The premise of sharing the shape: every caller, on any thread, gets the one handle the first link made, so the
   * system calls and the Ceph binding never generate a stub each.
   */
  @Test
  void everyCallerGetsTheOneLink() throws Exception {
    MethodHandle here = SharedDowncall.handle();
    MethodHandle there = CompletableFuture.supplyAsync(SharedDowncall::handle).get();
    assertThat(there).isSameAs(here);
  }

  /**
   * A C function of fewer arguments than the shape's eight, called through it with the function's address first:
   * {@code syscall(SYS_close, -1)} fails with errno EBADF, captured where the caller asked.
   */
  @Test
  void callsAFunctionOfFewerArgumentsAndCapturesErrno() throws Throwable {
    LinuxNative.requireSupported();
    MemorySegment syscall = Linker.nativeLinker().defaultLookup().findOrThrow("syscall");
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment capture = arena.allocate(LinuxNative.Calls.CAPTURE);
      long rc = (long) SharedDowncall.handle().invokeExact(syscall, capture, LinuxNative.sys().close(), -1L, 0L, 0L,
          0L, 0L, 0L, 0L);
      assertThat(rc).isEqualTo(-1);
      assertThat(LinuxNative.errno(capture)).isEqualTo(EBADF);
    }
  }
}
