package dev.vdisk.block;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.Images;
import dev.vdisk.io.CacheMode;
import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The writethrough and no-flush switches of each cache mode, counted where the format meets its file. */
class CacheSwitchTest {
  static Iterable<CacheMode> modes() {
    return CacheMode.PRESETS;
  }

  @ParameterizedTest
  @MethodSource("modes")
  void flushesReachTheLayerBelowExactlyAsTheModeSays(CacheMode mode) throws Exception {
    CountingFilter below = new CountingFilter(new MemoryDevice(1 << 20));
    CheckedDevice dev = new CheckedDevice(Images.applyCacheSwitches(below, mode));
    for (int i = 0; i < 10; i++) {
      dev.write(i * 4096L, ByteBuffer.allocate(4096), Set.of());
    }
    assertThat(below.flushes()).as("flushes after 10 writes under %s", mode).isEqualTo(mode.writethrough() ? 10 : 0);
    dev.flush();
    long afterFlush = below.flushes();
    assertThat(afterFlush).as("an explicit flush under %s", mode).isEqualTo(mode.writethrough() ? 11 : mode.ignoreFlushes() ? 0 : 1);
    dev.write(0, ByteBuffer.allocate(4096), EnumSet.of(WriteFlag.FUA));
    assertThat(below.flushes() + below.fuaWrites() - afterFlush)
        .as("a FUA write under %s reaches storage durably unless flushes are ignored", mode)
        .isEqualTo(mode.ignoreFlushes() ? 0 : 1);
  }
}
