package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.Extent;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where a preallocated growth ({@link GrowthPreallocation}) puts the grown clusters of a 1 MiB image with 64 KiB
 * clusters (header, refcount table, refcount block, L1 table, one L2 table: clusters 0 to 4), in memory, without
 * qemu-img (ResizeInteropIT compares with it).
 */
class GrowthPreallocationTest {
  private static final int CLUSTER = 64 << 10;

  @TempDir Path dir;

  @Test
  void metadataMapsTheGrownClustersAfterTheLastUsedOneAndTheFileEndsAtTheLast() throws IOException {
    MemoryDevice file = image(false);
    try (Qcow2Image image = open(file)) {
      image.growPreallocated(4 << 20, Preallocation.METADATA);
      assertThat(image.extents(1 << 20, 3 << 20)).as("contiguous from cluster 5 on")
          .containsExactly(Extent.data(1 << 20, 3 << 20, 5L * CLUSTER));
    }
    assertThat(file.size()).isEqualTo((5L + 48) * CLUSTER);
    assertClean(file);
  }

  /**
   * falloc: the refcount table moves to the end of what the refcounts use (cluster 5), the data follows it, and the
   * old table's cluster, free now, keeps its bytes as QEMU leaves them (no discard).
   */
  @Test
  void fallocPutsANewRefcountTableAtTheEndAndTheDataAfterItKeepingTheOldTablesBytes() throws IOException {
    MemoryDevice file = image(true);
    ByteBuffer oldTable = ByteBuffer.allocate(CLUSTER);
    file.read(CLUSTER, oldTable);
    try (Qcow2Image image = open(file)) {
      image.growPreallocated(4 << 20, Preallocation.FALLOC);
      assertThat(image.extents(0, 4 << 20)).containsExactly(Extent.data(0, CLUSTER, 5L * CLUSTER),
          Extent.hole(CLUSTER, (1 << 20) - CLUSTER), Extent.data(1 << 20, 3 << 20, 7L * CLUSTER));
    }
    ByteBuffer header = ByteBuffer.allocate(8);
    file.read(Qcow2Header.REFCOUNT_TABLE_OFFSET_FIELD, header);
    assertThat(header.getLong(0)).as("refcount_table_offset").isEqualTo(6L * CLUSTER);
    assertThat(file.size()).isEqualTo((7L + 48) * CLUSTER);
    ByteBuffer now = ByteBuffer.allocate(CLUSTER);
    file.read(CLUSTER, now);
    assertThat(now.clear()).as("the old refcount table's cluster").isEqualTo(oldTable.clear());
    assertClean(file);
  }

  @Test
  void aShrinkWithPreallocationIsRefusedAsQemuRefusesIt() throws IOException {
    try (Qcow2Image image = open(image(false))) {
      assertThatThrownBy(() -> image.growPreallocated(512 << 10, Preallocation.FULL))
          .isInstanceOf(BlockDeviceException.class).hasMessage("Preallocation can't be used for shrinking an image");
      assertThat(image.size()).isEqualTo(1 << 20);
    }
  }

  /** A new 1 MiB image, with {@code written} its first cluster written with ones (at cluster 5). */
  private MemoryDevice image(boolean written) throws IOException {
    Path path = dir.resolve("g.qcow2");
    new Qcow2Format().create(path, 1 << 20, Map.of(), true);
    MemoryDevice file = new MemoryDevice(Files.size(path));
    file.write(0, ByteBuffer.wrap(Files.readAllBytes(path)), Set.of());
    if (written) {
      try (Qcow2Image image = open(file)) {
        image.write(0, ByteBuffer.wrap(new byte[CLUSTER]).put(0, (byte) 1), Set.of());
      }
    }
    return file;
  }

  /** The image in {@code file}, which its close leaves readable (a memory device's close does nothing). */
  private Qcow2Image open(MemoryDevice file) throws IOException {
    Path path = dir.resolve("g.qcow2");
    return Qcow2Opener.open(file, FileContext.of(path, new FileOptions(CacheMode.WRITEBACK, false, false, false)),
        new Qcow2Format());
  }

  private void assertClean(MemoryDevice file) throws IOException {
    CheckResult r = Qcow2Checker.check(file, p -> { });
    assertThat(List.of(r.checkErrors(), r.corruptions(), r.leaks())).as(r.toString()).containsOnly(0L);
  }
}
