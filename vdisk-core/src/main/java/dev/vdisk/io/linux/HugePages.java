package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Anonymous memory on transparent huge pages, where the kernel has them: I/O buffers whose bytes lie in few
 * physically contiguous runs. A 1 MiB O_DIRECT request from ordinary memory is 256 scattered 4 KiB pages, each a
 * segment of its own for the block layer; a virtio disk without indirect descriptors (Firecracker's, for one) needs
 * a ring descriptor per segment, so one such request takes its whole 256-entry ring (the block layer even splits it
 * at the device's 254 segments) and the device never holds more than one of them: the others are requeued and wait
 * for a kernel worker to issue them after it completes. From a huge page the same request is one segment, and the
 * device holds the whole queue depth.
 *
 * <p>The memory is mapped with mmap at a huge-page boundary, marked with {@code madvise(MADV_HUGEPAGE)} (which takes
 * effect under the {@code transparent_hugepage} settings {@code always} and {@code madvise}, the usual default) and
 * touched page by page, so the huge pages (or the small ones the kernel falls back to) exist before the first
 * request. It is unmapped when the segment becomes unreachable.
 */
public final class HugePages {
  private static final int PROT_READ_WRITE = 0x1 | 0x2;
  private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
  private static final int MADV_HUGEPAGE = 14;
  private static final int SMALL_PAGE = 4096;

  private HugePages() {}

  /**
   * The huge page size transparent huge pages use (the {@code hpage_pmd_size} of sysfs, 2 MiB on x86_64 and on
   * aarch64 with 4 KiB pages), or 0 where the kernel has none or they are switched off ({@code never}).
   */
  public static long size() {
    return Size.BYTES;
  }

  /** Read once, on first use. */
  private static final class Size {
    static final long BYTES = read();

    private static long read() {
      Path thp = Path.of("/sys/kernel/mm/transparent_hugepage");
      try {
        if (Files.readString(thp.resolve("enabled")).contains("[never]")) {
          return 0;
        }
        long size = Long.parseLong(Files.readString(thp.resolve("hpage_pmd_size")).trim());
        return Long.bitCount(size) == 1 && size >= SMALL_PAGE ? size : 0;
      } catch (IOException | RuntimeException e) {
        return 0; // no sysfs, no THP: ordinary memory then
      }
    }
  }

  /**
   * {@code length} bytes (rounded up to whole huge pages) of zeroed memory at a huge-page boundary, asked to be on huge
   * pages, unmapped once the segment is unreachable; null where this system has no transparent huge pages ({@link
   * #size()} is 0) or the mapping is refused, so that the caller allocates ordinary memory instead.
   *
   * @throws IllegalArgumentException if {@code length} is not positive
   */
  public static MemorySegment allocate(long length) {
    if (length <= 0) {
      throw new IllegalArgumentException("huge page memory: " + length + " bytes (expected: at least 1)");
    }
    long huge = size();
    if (huge == 0) {
      return null;
    }
    try {
      LinuxNative.requireSupported();
    } catch (IOException e) {
      return null;
    }
    long rounded = (length + huge - 1) & -huge;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment cap = arena.allocate(LinuxNative.Calls.CAPTURE);
      LinuxNative.Sys sys = LinuxNative.sys();
      // Map a huge page more than needed and give back the ends, so what stays starts on a huge-page boundary.
      long raw = LinuxNative.syscall6(cap, sys.mmap(), 0, rounded + huge, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0);
      if (raw == -1) {
        return null;
      }
      long start = (raw + huge - 1) & -huge;
      if (start > raw) {
        LinuxNative.syscall(cap, sys.munmap(), raw, start - raw, 0, 0);
      }
      long tail = raw + rounded + huge - (start + rounded);
      if (tail > 0) {
        LinuxNative.syscall(cap, sys.munmap(), start + rounded, tail, 0, 0);
      }
      // A refused advice (a kernel built without THP) leaves ordinary pages: still usable memory.
      LinuxNative.syscall(cap, sys.madvise(), start, rounded, MADV_HUGEPAGE, 0);
      MemorySegment memory = MemorySegment.ofAddress(start)
          .reinterpret(rounded, Arena.ofAuto(), m -> unmap(m.address(), rounded));
      for (long p = 0; p < rounded; p += SMALL_PAGE) {
        memory.set(JAVA_BYTE, p, (byte) 0); // fault the pages in now, not in the first request
      }
      return memory;
    }
  }

  private static void unmap(long address, long length) {
    try (Arena arena = Arena.ofConfined()) {
      LinuxNative.syscall(arena.allocate(LinuxNative.Calls.CAPTURE), LinuxNative.sys().munmap(), address, length, 0, 0);
    }
  }
}
