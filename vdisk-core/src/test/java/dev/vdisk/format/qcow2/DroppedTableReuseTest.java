package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.mem.MemoryDevice;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A new L2 table dropped after its first write failed ({@link ClusterEntries#dropNewTable}) was named by the L1
 * entry meanwhile, and a reader outside the metadata lock may have read that entry and be about to load the table
 * from its cluster (a miss: the drop took it out of the cache). Were the cluster allocatable at once, another write's
 * data could land there first and the reader would map guest offsets through data bytes. Readers map under the
 * writer's shared lock, so the cluster is given back only once none holds it.
 */
class DroppedTableReuseTest {
  private static final int CLUSTER = 64 << 10;

  @Test
  void aDroppedNewTablesClusterIsGivenBackOnlyOnceNoReaderMaps(@TempDir Path dir) throws Exception {
    Path path = dir.resolve("t.qcow2");
    new Qcow2Format().create(path, 16L << 20, Map.of(), false);
    MemoryDevice file = new MemoryDevice(Files.size(path));
    file.write(0, ByteBuffer.wrap(Files.readAllBytes(path)), Set.of());
    HostReader reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(reader);
    Qcow2Header header = head.header();
    Geometry geometry = head.geometry();
    L1Table l1 = L1Table.read(reader, header, geometry, new Layout(file.size(), CLUSTER), false);
    L2Cache cache = new L2Cache(1 << 20, CLUSTER, offset -> new long[CLUSTER / 8]);
    RefcountStore refcounts = new RefcountStore(file, header, RefcountTable.read(reader, header), 4);
    ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
    ClusterEntries entries = new ClusterEntries(file, file, geometry, l1, cache, refcounts, header.size(),
        inUse.writeLock());

    long table = entries.writableTable(0);
    long cluster = table / CLUSTER;
    // A reader in flight: it read the L1 entry under the shared lock and has not loaded the table yet.
    inUse.readLock().lock();
    assertThat(l1.l2Offset(0)).isEqualTo(table);
    try (ExecutorService pool = Executors.newSingleThreadExecutor()) {
      Future<?> drop = pool.submit(() -> {
        entries.dropNewTable(0, table);
        return null;
      });
      while (!drop.isDone() && !inUse.hasQueuedThreads()) {
        Thread.onSpinWait();
      }
      assertThat(drop.isDone()).as("the drop finished while a reader maps").isFalse();
      assertThat(refcounts.get(cluster)).as("the table's refcount while a reader maps").isEqualTo(1);
      inUse.readLock().unlock();
      drop.get();
    }
    assertThat(l1.l2Offset(0)).isZero();
    assertThat(refcounts.get(cluster)).as("the table's refcount once no reader maps").isZero();
  }
}
