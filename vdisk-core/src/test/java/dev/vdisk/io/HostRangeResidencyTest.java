package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vdisk.block.HostRange;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link HostRange#cached} of a file's host ranges tells whether the page cache holds them (cachestat(2), Linux 6.5):
 * after GNU dd drops the file's pages ({@code oflag=nocache}) a range is not cached; once read, it is; a range of
 * which only part was read is not.
 */
class HostRangeResidencyTest {
  private static final int SIZE = 4 << 20;

  @TempDir Path dir;

  /** cachestat(2) came with Linux 6.5; an older kernel answers "not cached" for everything, which is safe but untestable. */
  private static void assumeCachestat() {
    String[] v = System.getProperty("os.version").split("[.-]");
    int major = Integer.parseInt(v[0]);
    int minor = Integer.parseInt(v[1]);
    assumeTrue(major > 6 || (major == 6 && minor >= 5), "cachestat(2) needs Linux 6.5");
  }

  @Test
  void rangesAreCachedOnlyOnceTheirPagesAreInThePageCache() throws Exception {
    assumeCachestat();
    Path file = dir.resolve("disk.raw");
    byte[] content = new byte[SIZE];
    new Random(5).nextBytes(content);
    Files.write(file, content);
    try (FileDevice device = FileDevice.open(file, FileOptions.of(CacheMode.WRITEBACK, true))) {
      dropPages(file);
      assertThat(cached(device, 0, SIZE)).as("after the pages were dropped").isFalse();
      assertThat(cached(device, SIZE - 4096, 4096)).isFalse();
      device.read(SIZE - (64 << 10), ByteBuffer.allocate(64 << 10));
      assertThat(cached(device, SIZE - (64 << 10), 64 << 10)).as("a range just read").isTrue();
      assertThat(cached(device, SIZE - (64 << 10) + 5, 100)).as("a part of it, unaligned").isTrue();
      assertThat(cached(device, 0, SIZE)).as("the file, of which the head was never read").isFalse();
      device.read(0, ByteBuffer.allocate(SIZE));
      assertThat(cached(device, 0, SIZE)).as("the file, read whole").isTrue();
    }
  }

  private static boolean cached(FileDevice device, long offset, long length) {
    List<HostRange> ranges = device.hostRanges(offset, length);
    assertThat(ranges).hasSize(1);
    return ranges.getFirst().cached();
  }

  /** GNU dd's documented way to drop a whole file's (clean) pages from the cache: posix_fadvise DONTNEED. */
  static void dropPages(Path file) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("dd", "of=" + file, "oflag=nocache", "conv=notrunc,fdatasync", "count=0",
        "status=none").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as("dd: %s", out).isZero();
  }
}
