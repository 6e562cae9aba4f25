package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Raw deflate through the system's zlib ({@code libz.so.1}, the library QEMU itself links), for the parameters the
 * JDK's Deflater cannot take: qcow2's compressed clusters are deflated with a 4 KiB window ({@code windowBits} -12),
 * which {@code java.util.zip} fixes at 32 KiB. Same library, same parameters, so vdisk's compressed clusters are
 * QEMU's bytes, at native speed.
 *
 * <p>{@code z_stream} has the same LP64 layout on x86_64 and aarch64 (112 bytes). Thread-safe: each call has its
 * own stream and native buffers.
 */
public final class Zlib {
  private static final int Z_OK = 0;
  private static final int Z_STREAM_END = 1;
  private static final int Z_BUF_ERROR = -5;
  private static final int Z_FINISH = 4;
  private static final int Z_DEFLATED = 8;
  private static final int Z_DEFAULT_STRATEGY = 0;

  private static final long STREAM_SIZE = 112;
  private static final long NEXT_IN = 0;
  private static final long AVAIL_IN = 8;
  private static final long NEXT_OUT = 24;
  private static final long AVAIL_OUT = 32;
  private static final long TOTAL_OUT = 40;

  /** deflateInit2_, deflate, deflateEnd and the library's version string; null where libz cannot be loaded. */
  private static final Handles HANDLES = Handles.load();

  private Zlib() {}

  private record Handles(MethodHandle init, MethodHandle deflate, MethodHandle end, MemorySegment version) {
    static Handles load() {
      try {
        Linker linker = Linker.nativeLinker();
        SymbolLookup lib = SymbolLookup.libraryLookup("libz.so.1", Arena.global());
        MethodHandle init = linker.downcallHandle(lib.findOrThrow("deflateInit2_"), FunctionDescriptor.of(JAVA_INT,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        MethodHandle deflate = linker.downcallHandle(lib.findOrThrow("deflate"), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        MethodHandle end = linker.downcallHandle(lib.findOrThrow("deflateEnd"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        MethodHandle version = linker.downcallHandle(lib.findOrThrow("zlibVersion"), FunctionDescriptor.of(ADDRESS));
        // The library's own version string: deflateInit2_ checks it against itself.
        return new Handles(init, deflate, end, (MemorySegment) version.invokeExact());
      } catch (Throwable e) {
        return null;
      }
    }
  }

  /**
   * Deflates {@code in} into a raw deflate stream (no zlib header) that must fit in {@code out}.
   *
   * @param level 0 to 9
   * @param windowBits log2 of the window, 9 to 15
   * @param memLevel 1 to 9
   * @return the stream's length, or -1 where it does not fit in {@code out}
   * @throws IOException EIO if libz is missing or fails
   */
  public static int deflateRaw(byte[] in, byte[] out, int level, int windowBits, int memLevel) throws IOException {
    if (HANDLES == null) {
      throw new BlockDeviceException(BlockError.EIO,
          "zlib: libz.so.1 cannot be loaded (expected: the system's zlib, Debian package zlib1g)");
    }
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment stream = arena.allocate(STREAM_SIZE, 8);
      MemorySegment src = arena.allocateFrom(JAVA_BYTE, in);
      MemorySegment dst = arena.allocate(Math.max(1, out.length));
      int rc = (int) HANDLES.init().invokeExact(stream, level, Z_DEFLATED, -windowBits, memLevel, Z_DEFAULT_STRATEGY,
          HANDLES.version(), (int) STREAM_SIZE);
      if (rc != Z_OK) {
        throw new BlockDeviceException(BlockError.EIO, "zlib: deflateInit2 failed with code " + rc);
      }
      try {
        stream.set(ADDRESS, NEXT_IN, src);
        stream.set(JAVA_INT, AVAIL_IN, in.length);
        stream.set(ADDRESS, NEXT_OUT, dst);
        stream.set(JAVA_INT, AVAIL_OUT, out.length);
        rc = (int) HANDLES.deflate().invokeExact(stream, Z_FINISH);
        if (rc == Z_STREAM_END) {
          int n = (int) stream.get(JAVA_LONG, TOTAL_OUT);
          MemorySegment.copy(dst, JAVA_BYTE, 0, out, 0, n);
          return n;
        }
        if (rc == Z_OK || rc == Z_BUF_ERROR) {
          return -1;
        }
        throw new BlockDeviceException(BlockError.EIO, "zlib: deflate failed with code " + rc);
      } finally {
        int ignored = (int) HANDLES.end().invokeExact(stream);
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IOException("zlib: " + e, e);
    }
  }
}
