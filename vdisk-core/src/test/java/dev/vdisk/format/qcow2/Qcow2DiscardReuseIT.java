package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13, fault 6: a guest that trims and rewrites the same range must not grow the file without bound. vdisk
 * reuses a freed cluster only once its release is durable (crash safety), so it flushes the metadata when the
 * freed-but-not-yet-reusable space passes {@link MetadataWriteBack#FREED_FLUSH_BYTES}; the space of clusters freed
 * together goes back to the host in one discard per contiguous range, not one per cluster.
 */
class Qcow2DiscardReuseIT {
  private static final int MIB = 1 << 20;
  private static final int ROUND = 64 * MIB;
  private static final int ROUNDS = 6;

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  /** Six rounds of writing and trimming the same 64 MiB in 1 MiB requests, as a guest's would come. */
  @Test
  void trimAndRewriteStaysNearQemusFileSize() throws Exception {
    for (String name : List.of("qemu.qcow2", "vdisk.qcow2")) {
      Qemu.img(dir, "create", "-q", "-f", "qcow2", name, Integer.toString(2 * ROUND));
    }
    List<String> commands = new ArrayList<>();
    for (int round = 0; round < ROUNDS; round++) {
      for (int at = 0; at < ROUND; at += MIB) {
        commands.add("write -P " + (round + 1) + " " + at + " 1M");
      }
      for (int at = 0; at < ROUND; at += MIB) {
        commands.add("discard " + at + " 1M");
      }
    }
    Qemu.io(dir, "qemu.qcow2", commands.toArray(String[]::new));
    try (OpenImage img = Images.open(dir.resolve("vdisk.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
      BlockDevice dev = img.device();
      byte[] data = new byte[MIB];
      for (int round = 0; round < ROUNDS; round++) {
        java.util.Arrays.fill(data, (byte) (round + 1));
        for (int at = 0; at < ROUND; at += MIB) {
          dev.write(at, ByteBuffer.wrap(data), Set.of());
        }
        for (int at = 0; at < ROUND; at += MIB) {
          dev.discard(at, MIB);
        }
      }
    }
    long qemu = Files.size(dir.resolve("qemu.qcow2"));
    long vdisk = Files.size(dir.resolve("vdisk.qcow2"));
    assertThat(vdisk).as("file size after %d rounds (qemu-io's: %d)", ROUNDS, qemu)
        .isLessThanOrEqualTo(qemu + MetadataWriteBack.FREED_FLUSH_BYTES + 2 * MIB);
    assertThat(Qemu.img(dir, "check", "vdisk.qcow2")).contains("No errors were found on the image.");
  }

  /** 64 MiB of contiguous clusters freed by one discard reach the file as one discard, not 1,024. */
  @Test
  void freedClustersArePunchedInRanges() throws Exception {
    Path base = dir.resolve("r.qcow2");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", base.getFileName().toString(), Integer.toString(2 * ROUND));
    Qemu.io(dir, base.getFileName().toString(), "write -P 7 0 64M");
    MemoryDevice memory = new MemoryDevice(Files.size(base));
    memory.write(0, ByteBuffer.wrap(Files.readAllBytes(base)), Set.of());
    CountingFilter file = new CountingFilter(memory);
    try (Qcow2Image image = Qcow2Opener.open(file,
        FileContext.of(base, new FileOptions(CacheMode.WRITEBACK, false, false, false)), new Qcow2Format(1 << 20))) {
      image.discard(0, ROUND);
      image.flush();
      assertThat(file.discards()).as("discards of the host file").isEqualTo(1);
    }
  }
}
