package dev.vdisk.format.raw;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request that reaches the raw image past its end (one that passed the guard's check before a shrink) is refused
 * as the guard refuses it, and the file keeps the size the shrink set: a file would grow under the write.
 */
class RawImageTest {
  @TempDir
  Path dir;

  @Test
  void requestsPastTheEndAfterAShrinkAreRefusedAndTheFileKeepsItsSize() throws Exception {
    Path path = dir.resolve("t.raw");
    new RawFormat().create(path, 1 << 20, Map.of(), false);
    try (FileDevice file = FileDevice.open(path, FileOptions.of(CacheMode.WRITEBACK, false))) {
      RawImage image = new RawImage(file, false, new RawFormat());
      image.resize(64 << 10);
      long past = 64 << 10;
      assertThatThrownBy(() -> image.write(past, ByteBuffer.allocate(4096), Set.of()))
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.ENOSPC));
      assertThatThrownBy(() -> image.writeZeroes(past - 4096, 8192, Set.of()))
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.ENOSPC));
      assertThatThrownBy(() -> image.discard(past, 4096))
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EINVAL));
      image.write(past - 4096, ByteBuffer.allocate(4096), Set.of()); // the last block inside is still written
      assertThat(Files.size(path)).as("the file after the refusals").isEqualTo(past);
      image.resize(128 << 10); // a grow, with nothing to drain
      image.write(past, ByteBuffer.allocate(4096), Set.of());
    }
    assertThat(Files.size(path)).isEqualTo(128 << 10);
  }
}
