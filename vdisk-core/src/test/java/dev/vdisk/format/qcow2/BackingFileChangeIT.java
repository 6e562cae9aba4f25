package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The header step of a rebase ({@link BackingFileChange}) flushes no more than its crash ordering needs: on an image
 * made by qemu-img (its feature name table takes the extensions past the first sector), a new qcow2 backing file
 * changes nothing past sector 0 but the name, so the name and then sector 0 are written, a flush after each. Its
 * crash safety is ChainCrashIT's.
 */
class BackingFileChangeIT {
  @TempDir
  static Path dir;

  @BeforeAll
  static void images() throws Exception {
    Qemu.require();
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "other.qcow2", "1M");
  }

  @Test
  void anotherQcow2BackingFileTakesTwoFlushes() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2", "1M");
    int flushes;
    try (FileDevice file = FileDevice.open(dir.resolve("top.qcow2"), FileOptions.of(CacheMode.WRITEBACK, false))) {
      CountingFlushes counting = new CountingFlushes(file);
      new Qcow2Format().changeBacking(counting, Optional.of("other.qcow2"), Optional.of("qcow2"));
      flushes = counting.flushes;
    }
    assertThat(flushes).isEqualTo(2);
    assertThat(Qemu.img(dir, "info", "top.qcow2")).contains("backing file: other.qcow2", "backing file format: qcow2");
    assertThat(Qemu.checkJson(dir, "top.qcow2")).doesNotContain("corruptions", "leaks");
  }

  /** Counts the flushes that reach the file. */
  private static final class CountingFlushes extends FilterDevice {
    int flushes;

    CountingFlushes(BlockDevice next) {
      super(next);
    }

    @Override
    public void flush() throws IOException {
      flushes++;
      next.flush();
    }
  }
}
