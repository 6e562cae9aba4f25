package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An extended L2 entry is two 64-bit words, and readers outside the metadata lock ({@link ClusterMapper}, the
 * overwrite fast path) read it while an allocating write or a discard changes it ({@link ClusterEntries#setEntry}):
 * a reader must see both words of one state, never the word of one with the bitmap of the other. Between an
 * allocated entry (host offset, subcluster 0 allocated) and an unallocated one (both words 0), a torn read pairs
 * word 0 with "subcluster 0 allocated", which the decoder refuses as corrupt (what Qcow2AllocationRaceIT once met in
 * CI). One thread flips the entry through setEntry, others map it through ClusterMapper, for a bounded number of
 * flips (not a time: a run that meets no tear passes); any torn pair fails. With the two words written and read
 * apart (before 889a093) it failed 17 runs in 20 at these settings (load average 10, 2 cores), after 4 thousand to
 * 460 thousand flips; a passing run takes about 0.1 s.
 */
class ExtendedEntryTearTest {
  private static final int CLUSTER = 64 << 10;
  private static final int FLIPS = 500_000;
  /** One reader: with the writer, as many threads as the 2-core machines the tests run on have cores. */
  private static final int READERS = 1;

  @Test
  void readersNeverSeeOneStatesWordWithTheOthersBitmap(@TempDir Path dir) throws Exception {
    MemoryDevice file = imageWithClusterZeroAllocated(dir);
    HostReader reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(reader);
    Qcow2Header header = head.header();
    Geometry geometry = head.geometry();
    assertThat(geometry.extendedL2()).isTrue();
    L1Table l1 = L1Table.read(reader, header, geometry, new Layout(file.size(), CLUSTER), false);
    L2Cache cache = new L2Cache(1 << 20, CLUSTER, offset -> {
      ByteBuffer b = reader.readMetadata("L2 table", offset, CLUSTER);
      long[] t = new long[CLUSTER / 8];
      b.asLongBuffer().get(t);
      return t;
    });
    RefcountStore refcounts = new RefcountStore(file, header, RefcountTable.read(reader, header), 4);
    ClusterEntries entries = new ClusterEntries(file, file, geometry, l1, cache, refcounts, header.size(),
        new ReentrantReadWriteLock().writeLock());
    ClusterMapper mapper = new ClusterMapper(geometry, l1, cache,
        new L2Entry.Decoder(geometry, header.version(), false));
    long allocated = entries.entryWord(0);
    long allocatedBitmap = entries.entryBitmap(0);
    assertThat(allocated & Geometry.COPIED).as("cluster 0 is owned").isNotZero();
    assertThat(allocatedBitmap).as("subcluster 0 allocated, none zero").isEqualTo(1);
    assertThat(mapper.map(0, 512).entry()).isInstanceOf(L2Entry.Normal.class);

    AtomicBoolean done = new AtomicBoolean();
    CyclicBarrier start = new CyclicBarrier(READERS + 1);
    try (ExecutorService pool = Executors.newFixedThreadPool(READERS)) {
      Future<?>[] readers = new Future<?>[READERS];
      for (int r = 0; r < READERS; r++) {
        readers[r] = pool.submit(() -> {
          start.await();
          long reads = 0;
          while (!done.get()) {
            // Throws (a corrupt entry) on a torn pair; either whole state is a valid answer.
            L2Entry e = mapper.map(0, 512).entry();
            assertThat(e).isInstanceOfAny(L2Entry.Normal.class, L2Entry.Unallocated.class);
            reads++;
          }
          return reads;
        });
      }
      start.await();
      try {
        for (int i = 0; i < FLIPS && !anyDone(readers); i++) {
          entries.setEntry(0, 0, 0);
          entries.setEntry(0, allocated, allocatedBitmap);
        }
      } finally {
        done.set(true);
      }
      for (Future<?> r : readers) {
        r.get(); // a reader's failure, if any, fails the test here
      }
    }
  }

  private static boolean anyDone(Future<?>[] readers) {
    for (Future<?> r : readers) {
      if (r.isDone()) {
        return true;
      }
    }
    return false;
  }

  /** A new image with extended L2 entries whose first subcluster was written (its L2 table owned, COPIED). */
  private static MemoryDevice imageWithClusterZeroAllocated(Path dir) throws IOException {
    Path path = dir.resolve("t.qcow2");
    new Qcow2Format().create(path, 16L << 20, Map.of("extended_l2", "on", "cluster_size", String.valueOf(CLUSTER)),
        false);
    MemoryDevice memory = new MemoryDevice(Files.size(path));
    memory.write(0, ByteBuffer.wrap(Files.readAllBytes(path)), Set.of());
    try (Qcow2Image image = Qcow2Opener.open(memory, FileContext.of(path, FileOptions.of(CacheMode.WRITEBACK, false)),
        new Qcow2Format())) {
      ByteBuffer data = ByteBuffer.allocate(512);
      while (data.hasRemaining()) {
        data.put((byte) 0x5a);
      }
      image.write(0, data.flip(), Set.of());
    }
    return memory;
  }
}
