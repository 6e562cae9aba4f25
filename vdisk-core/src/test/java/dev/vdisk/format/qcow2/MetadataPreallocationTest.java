package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.Extent;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** QEMU's probe for preallocated metadata, on real host files: when it reads the refcounts and what it answers. */
class MetadataPreallocationTest {
  private static final int CLUSTER_BITS = 16;
  private static final int CLUSTER = 1 << CLUSTER_BITS;

  @TempDir Path dir;

  @Test
  void aFileWithoutHolesIsNotPreallocatedAndItsRefcountsAreNotRead() throws IOException {
    try (FileDevice file = FileDevice.create(dir.resolve("full.qcow2"), false)) {
      file.write(0, ByteBuffer.allocate(16 * CLUSTER), Set.of());
      List<Long> counted = new ArrayList<>();
      MetadataPreallocation probe = new MetadataPreallocation(file, file, CLUSTER_BITS, (clusters, stopAt) -> {
        counted.add(clusters);
        return clusters; // every cluster in use: only reading the refcounts could say otherwise
      });
      assertThat(extents(probe)).containsExactly(Extent.data(0, 4 * CLUSTER, 2 * CLUSTER));
      assertThat(counted).isEmpty();
    }
  }

  @Test
  void aSparseFileWhoseClustersAreInUseIsPreallocatedAndItsHolesReadAsZeroes() throws IOException {
    try (FileDevice file = FileDevice.create(dir.resolve("sparse.qcow2"), false)) {
      file.write(0, ByteBuffer.allocate(CLUSTER).put(0, (byte) 1), Set.of());
      file.resize(1024L * CLUSTER);
      List<Long> counted = new ArrayList<>();
      MetadataPreallocation probe = new MetadataPreallocation(file, file, CLUSTER_BITS, (clusters, stopAt) -> {
        counted.add(clusters);
        return clusters;
      });
      assertThat(extents(probe)).containsExactly(new Extent(0, 4 * CLUSTER, true, true, true, 2 * CLUSTER));
      assertThat(counted).containsExactly(1024L);
    }
  }

  /** The extents of 4 guest clusters stored from host cluster 2 on. */
  private static List<Extent> extents(MetadataPreallocation probe) throws IOException {
    List<Extent> out = new ArrayList<>();
    probe.dataExtents(0, 4 * CLUSTER, 2 * CLUSTER, out::add);
    return out;
  }
}
