package dev.vdisk.format.raw;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import dev.vdisk.testkit.ShrinkRace;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A raw image shrunk while writes run over the part it drops must end as one of the serial orders explains: each
 * write either came before the shrink (its bytes dropped with the tail) or after it (refused: out of range). So the
 * file ends at the new size, {@code qemu-img info} says so and {@code qemu-img compare} finds the kept part as it was.
 * Before the fix a write that had passed the guard's range check under the old size could land after the truncate
 * (a pwrite, or a request the kernel already had) and grow the file again, as nothing drained the requests in flight.
 */
class RawShrinkRaceIT {
  private static final long SIZE = 2L << 20;
  private static final long NEW_SIZE = SIZE / 2;
  private static final int ROUNDS = 40;

  @TempDir
  Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  /** Synchronous writes from several threads, through the page cache and with O_DIRECT. */
  @ParameterizedTest
  @ValueSource(strings = {"writeback", "none"})
  void writesRacingAShrinkLeaveTheNewSize(String cache) throws Exception {
    rounds(FileOptions.of(CacheMode.parse(cache), false), false);
  }

  /** The same with queues' writes, which the kernel holds while the shrink runs (cache=none, io_uring or Linux AIO). */
  @ParameterizedTest
  @EnumSource(value = Aio.class, names = {"IO_URING", "NATIVE"})
  void queuedWritesRacingAShrinkLeaveTheNewSize(Aio aio) throws Exception {
    rounds(FileOptions.of(CacheMode.NONE, false).withAio(aio), true);
  }

  private void rounds(FileOptions options, boolean queued) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "raw", "kept.raw", Long.toString(NEW_SIZE));
    Qemu.ioAs(dir, "raw", "kept.raw", "write -P 0x11 0 " + NEW_SIZE);
    for (int round = 0; round < ROUNDS; round++) {
      Files.deleteIfExists(dir.resolve("t.raw"));
      Qemu.img(dir, "create", "-q", "-f", "raw", "t.raw", Long.toString(SIZE));
      Qemu.ioAs(dir, "raw", "t.raw", "write -P 0x11 0 " + SIZE);
      try (OpenImage img = Images.open(dir.resolve("t.raw"), "raw", options)) {
        Assumptions.assumeTrue(img.file().aio() == options.aio(), options.aio() + " is not available on this kernel");
        ShrinkRace.race(img.device(), SIZE, NEW_SIZE, round, queued);
      }
      assertThat(Files.size(dir.resolve("t.raw"))).as("round %d: the file's size", round).isEqualTo(NEW_SIZE);
      assertThat(Qemu.img(dir, "info", "-f", "raw", "--output=json", "t.raw")).as("round %d: qemu-img info", round)
          .contains("\"virtual-size\": " + NEW_SIZE);
      assertThat(Qemu.img(dir, "compare", "-s", "-f", "raw", "-F", "raw", "kept.raw", "t.raw"))
          .as("round %d: qemu-img compare with the kept part", round).contains("Images are identical.");
    }
  }
}
