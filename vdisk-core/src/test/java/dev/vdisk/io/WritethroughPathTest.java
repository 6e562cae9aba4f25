package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vdisk.block.HostRange;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Under {@code cache=writethrough} a regular file's aligned writes bypass the page cache ({@link WritethroughPath}),
 * while reads and unaligned writes use it.
 */
class WritethroughPathTest {
  private static final int SIZE = 4 << 20;
  private static final int BLOCK = 4096;

  @TempDir Path dir;

  private Path randomFile() throws IOException {
    Path file = dir.resolve("disk.raw");
    byte[] content = new byte[SIZE];
    new Random(7).nextBytes(content);
    Files.write(file, content);
    return file;
  }

  private static FileDevice writethrough(Path file) throws IOException {
    return FileDevice.open(file, FileOptions.of(CacheMode.WRITETHROUGH, false));
  }

  @Test
  void alignedWritesBypassThePageCacheAndLaterReadsSeeThem() throws Exception {
    String[] v = System.getProperty("os.version").split("[.-]");
    assumeTrue(Integer.parseInt(v[0]) > 6 || (Integer.parseInt(v[0]) == 6 && Integer.parseInt(v[1]) >= 5),
        "cachestat(2), which tells what the page cache holds, needs Linux 6.5");
    Path file = randomFile();
    try (FileDevice device = writethrough(file)) {
      device.read(0, ByteBuffer.allocate(SIZE));
      assertThat(cached(device, 0, SIZE)).as("the file, read whole").isTrue();

      device.write(1 << 20, filled(BLOCK, 0x11), Set.of());
      assertThat(cached(device, 1 << 20, BLOCK)).as("a block just written aligned: not through the cache").isFalse();
      assertThat(read(device, 1 << 20, BLOCK)).as("read back through the cache").isEqualTo(bytes(BLOCK, 0x11));
      assertThat(cached(device, 1 << 20, BLOCK)).as("the same block, once read").isTrue();

      device.read(2 << 20, ByteBuffer.allocate(BLOCK));
      device.write((2 << 20) + 100, filled(10, 0x22), Set.of());
      assertThat(cached(device, 2 << 20, BLOCK)).as("a block written unaligned: through the cache").isTrue();
      assertThat(read(device, (2 << 20) + 100, 10)).isEqualTo(bytes(10, 0x22));
    }
  }

  private static boolean cached(FileDevice device, long offset, long length) {
    List<HostRange> ranges = device.hostRanges(offset, length);
    assertThat(ranges).hasSize(1);
    return ranges.getFirst().cached();
  }

  private static byte[] read(FileDevice device, long offset, int length) throws IOException {
    ByteBuffer dst = ByteBuffer.allocate(length);
    device.read(offset, dst);
    return dst.array();
  }

  private static byte[] bytes(int length, int value) {
    byte[] b = new byte[length];
    Arrays.fill(b, (byte) value);
    return b;
  }

  private static ByteBuffer filled(int length, int value) {
    return ByteBuffer.wrap(bytes(length, value));
  }
}
