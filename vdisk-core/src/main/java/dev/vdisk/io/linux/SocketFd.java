package dev.vdisk.io.linux;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.channels.SocketChannel;

/**
 * The descriptor of a JDK socket channel, for an io_uring poll on it ({@link AsyncIo#watch}). The JDK has no public
 * way to it: this calls {@code sun.nio.ch.SelChImpl#getFDVal}, which its socket channels implement, and which the
 * JVM reaches only where {@code java.base} exports {@code sun.nio.ch} to vdisk ({@code --add-exports
 * java.base/sun.nio.ch=ALL-UNNAMED}, or {@code Add-Exports} in the jar's manifest: the launchers, the distribution
 * and the tests pass it). Without it there is no descriptor, and the caller serves the socket as it does a TLS one.
 */
public final class SocketFd {
  /** {@code SelChImpl#getFDVal} as {@code (SocketChannel) int}, or null where the package is not exported. */
  private static final MethodHandle FD_VAL = lookup();

  private SocketFd() {}

  private static MethodHandle lookup() {
    try {
      Class<?> selCh = Class.forName("sun.nio.ch.SelChImpl");
      MethodHandle h = MethodHandles.lookup().findVirtual(selCh, "getFDVal", MethodType.methodType(int.class));
      return h.asType(MethodType.methodType(int.class, SocketChannel.class));
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null; // not exported (IllegalAccessException), or a JDK without it
    }
  }

  /**
   * The descriptor of {@code channel}, or -1 where the JDK does not give it (see the class comment) or the channel is
   * not one of the JDK's own. Valid while the channel is open; the caller does not close it.
   */
  public static int of(SocketChannel channel) {
    if (FD_VAL == null) {
      return -1;
    }
    try {
      return (int) FD_VAL.invokeExact(channel);
    } catch (ClassCastException e) {
      return -1; // a SocketChannel of another provider's
    } catch (Throwable e) {
      throw new IllegalStateException("SelChImpl.getFDVal", e);
    }
  }
}
