package dev.vdisk.io.internal;

import dev.vdisk.io.linux.NativeFile;

/** The host I/O layer's start-up work that a program may begin ahead, while it does its own. */
public final class NativeLinks {
  private NativeLinks() {}

  /**
   * Starts linking the system calls that opening a file needs, on a daemon thread named {@code vdisk-link} (the JDK
   * generates a stub for the downcall: tens of milliseconds). Call it once, first thing; the first file opened waits
   * for the link, and reports a link that failed as an {@link java.io.IOException}.
   */
  public static void startAhead() {
    NativeFile.linkAhead();
  }
}
