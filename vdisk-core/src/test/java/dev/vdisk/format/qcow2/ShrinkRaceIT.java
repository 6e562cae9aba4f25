package dev.vdisk.format.qcow2;

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
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A shrink while overwrites run over the part it drops must end as one of the serial orders explains: each overwrite
 * either came before the shrink (its bytes dropped with the tail) or after it (refused: out of range). So the image
 * passes {@code qemu-img check} with nothing to report, and an external data file ends at the new size, as QEMU cuts
 * it. Before the fix an overwrite in place that had passed the guard's range check before the shrink could write its
 * cluster after the data file was cut (the file grew back past the virtual size) or after the cluster had been
 * released (a write to a cluster nothing owns), as nothing drained the requests in flight.
 */
class ShrinkRaceIT {
  private static final int CLUSTER = 65536;
  private static final int CLUSTERS = 32;
  private static final long SIZE = (long) CLUSTERS * CLUSTER;
  private static final long NEW_SIZE = SIZE / 2;
  private static final int ROUNDS = 40;

  @TempDir
  Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "data_file=t.data,", "data_file=t.data,data_file_raw=on,"})
  void overwritesRacingAShrinkLeaveAConsistentImage(String dataFile) throws Exception {
    rounds(dataFile, FileOptions.of(CacheMode.WRITEBACK, false), false);
  }

  /** The same with a queue's overwrites, which hold no lock while the kernel has them (cache=none, io_uring). */
  @ParameterizedTest
  @ValueSource(strings = {"", "data_file=t.data,"})
  void queuedOverwritesRacingAShrinkLeaveAConsistentImage(String dataFile) throws Exception {
    rounds(dataFile, FileOptions.of(CacheMode.NONE, false).withAio(Aio.IO_URING), true);
  }

  private void rounds(String dataFile, FileOptions options, boolean queued) throws Exception {
    for (int round = 0; round < ROUNDS; round++) {
      Files.deleteIfExists(dir.resolve("t.qcow2"));
      Files.deleteIfExists(dir.resolve("t.data"));
      // The data file's absolute name: a relative one is relative to the current directory, not the test's for vdisk.
      Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", dataFile.replace("t.data", dir.resolve("t.data").toString())
          + "cluster_size=" + CLUSTER, "t.qcow2", Long.toString(SIZE));
      Qemu.io(dir, "t.qcow2", "write -P 0x11 0 " + SIZE);
      try (OpenImage img = Images.open(dir.resolve("t.qcow2"), "qcow2", options)) {
        Assumptions.assumeTrue(img.file().aio() == options.aio(), options.aio() + " is not available on this kernel");
        ShrinkRace.race(img.device(), SIZE, NEW_SIZE, round, queued);
      }
      String check = Qemu.checkJson(dir, "t.qcow2");
      assertThat(check).as("round %d: qemu-img check", round).doesNotContain("\"corruptions\"")
          .doesNotContain("\"leaks\"");
      assertThat(Qemu.img(dir, "info", "--output=json", "t.qcow2")).contains("\"virtual-size\": " + NEW_SIZE);
      if (!dataFile.isEmpty()) {
        assertThat(Files.size(dir.resolve("t.data"))).as("round %d: the data file's size", round).isEqualTo(NEW_SIZE);
      }
    }
  }

}
