package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class L2CacheTest {
  private static final int TABLE = 4096;

  private final AtomicInteger loads = new AtomicInteger();

  private long[] load(long offset) {
    loads.incrementAndGet();
    long[] t = new long[TABLE / 8];
    t[0] = offset;
    return t;
  }

  @Test
  void hitsDoNotReload() throws Exception {
    L2Cache cache = new L2Cache(10L * TABLE, TABLE, this::load);
    for (int i = 0; i < 5; i++) {
      assertThat(cache.get(0x10000)[0]).isEqualTo(0x10000);
    }
    assertThat(loads).hasValue(1);
  }

  @Test
  void sizeIsBoundedInTables() throws Exception {
    L2Cache cache = new L2Cache(8L * TABLE + 100, TABLE, this::load);
    assertThat(cache.capacity()).isEqualTo(8);
    for (long i = 1; i <= 1000; i++) {
      assertThat(cache.get(i * TABLE)[0]).isEqualTo(i * TABLE);
      assertThat(cache.size()).isLessThanOrEqualTo(8);
    }
  }

  /**
   * With every cached table dirty, a table loaded now must stay cached until its caller changes it: a change made to
   * an evicted copy would be lost (found by SnapshotCrashIT's write sessions over shared tables with a small cache).
   */
  @Test
  void aTableJustLoadedIsNotEvictedWhenTheOthersAreDirty() throws Exception {
    L2Cache cache = new L2Cache(2L * TABLE, TABLE, this::load);
    cache.add(TABLE, new long[TABLE / 8]);
    cache.add(2 * TABLE, new long[TABLE / 8]);
    long[] t = cache.get(3 * TABLE);
    cache.set(3 * TABLE, t, 1, 42);
    assertThat(cache.get(3 * TABLE)[1]).as("the change is in the cached table").isEqualTo(42);
    dev.vdisk.block.mem.MemoryDevice file = new dev.vdisk.block.mem.MemoryDevice(16L * TABLE);
    cache.writeDirty(file);
    java.nio.ByteBuffer word = java.nio.ByteBuffer.allocate(8);
    file.read(3L * TABLE + 8, word);
    assertThat(word.getLong(0)).as("the change is written back").isEqualTo(42);
  }

  /**
   * A miss that read a table just before a write-back stored a newer copy must not cache its older copy once the
   * newer one was evicted: later changes would start from the older copy and lose entries.
   */
  @Test
  void aMissOverlappingAWriteBackDoesNotCacheTheOlderCopy() throws Exception {
    MemoryDevice file = new MemoryDevice(16L * TABLE);
    CountDownLatch read = new CountDownLatch(1);
    CountDownLatch resume = new CountDownLatch(1);
    AtomicInteger tableLoads = new AtomicInteger();
    L2Cache cache = new L2Cache(2L * TABLE, TABLE, offset -> {
      ByteBuffer b = ByteBuffer.allocate(TABLE);
      file.read(offset, b);
      long[] t = new long[TABLE / 8];
      b.flip().asLongBuffer().get(t);
      if (offset == TABLE && tableLoads.incrementAndGet() == 1) {
        read.countDown();
        try {
          resume.await();
        } catch (InterruptedException e) {
          throw new IOException(e);
        }
      }
      return t;
    });
    try (ExecutorService pool = Executors.newSingleThreadExecutor()) {
      Future<long[]> slow = pool.submit(() -> cache.get(TABLE));
      read.await();
      long[] t = cache.get(TABLE);
      cache.set(TABLE, t, 1, 42);
      cache.writeDirty(file);
      for (long other = 2; other < 6; other++) {
        cache.get(other * TABLE);
      }
      resume.countDown();
      slow.get();
    }
    assertThat(cache.get(TABLE)[1]).as("the entry the write-back stored").isEqualTo(42);
  }

  /**
   * A reader's misses evict clean tables without the metadata lock, between a writer's taking a table and its change:
   * the table a writer took with writable stays cached, so the change is neither lost to a reload nor missing at the
   * write-back (L2EvictionRaceIT met both with get in its place).
   */
  @Test
  void aTableTakenToBeChangedIsNotEvictedByMisses() throws Exception {
    MemoryDevice file = new MemoryDevice(16L * TABLE);
    L2Cache cache = new L2Cache(2L * TABLE, TABLE, offset -> {
      ByteBuffer b = ByteBuffer.allocate(TABLE);
      file.read(offset, b);
      long[] t = new long[TABLE / 8];
      b.flip().asLongBuffer().get(t);
      return t;
    });
    long[] t = cache.writable(TABLE);
    for (long other = 2; other < 8; other++) {
      cache.get(other * TABLE);
    }
    cache.set(TABLE, t, 1, 42);
    assertThat(cache.get(TABLE)[1]).as("the change is in the cached table").isEqualTo(42);
    assertThat(cache.writeDirty(file)).isTrue();
    ByteBuffer word = ByteBuffer.allocate(8);
    file.read(TABLE + 8, word);
    assertThat(word.getLong(0)).as("the change is written back").isEqualTo(42);
  }

  @Test
  void aRunOfWordsSetTogetherIsWrittenBackBigEndianEachInItsPlace() throws Exception {
    MemoryDevice file = new MemoryDevice(4L * TABLE);
    L2Cache cache = new L2Cache(2L * TABLE, TABLE, this::load);
    long[] t = cache.writable(TABLE);
    long[] run = {0x8000_0000_0005_0000L, 0x0102_0304_0506_0708L, -2L};
    cache.set(TABLE, t, 7, run);
    assertThat(cache.dirtyCount()).as("the table is dirty").isEqualTo(1);
    assertThat(cache.writeDirty(file)).isTrue();
    assertThat(cache.dirtyCount()).as("written back: clean").isZero();
    ByteBuffer back = ByteBuffer.allocate(TABLE);
    file.read(TABLE, back);
    long[] expected = load(TABLE);
    System.arraycopy(run, 0, expected, 7, run.length);
    long[] words = new long[TABLE / 8];
    back.flip().asLongBuffer().get(words);
    assertThat(words).as("the table as the file holds it, big-endian").isEqualTo(expected);
    assertThat(back.get(7 * 8 + 8)).as("the most significant byte first").isEqualTo((byte) 0x01);
  }

  @Test
  void atLeastTwoTablesEvenWhenConfiguredSmaller() {
    assertThat(new L2Cache(0, TABLE, this::load).capacity()).isEqualTo(L2Cache.MIN_TABLES);
  }

  @Test
  void recentlyUsedTablesSurviveEviction() throws Exception {
    L2Cache cache = new L2Cache(4L * TABLE, TABLE, this::load);
    for (long i = 1; i <= 100; i++) {
      cache.get(0);
      cache.get(i * TABLE);
    }
    int before = loads.get();
    cache.get(0);
    assertThat(loads.get()).as("the table used on every step is still cached").isEqualTo(before);
  }

  @Test
  void concurrentReadersAlwaysGetTheRightTable() throws Exception {
    L2Cache cache = new L2Cache(16L * TABLE, TABLE, this::load);
    try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int seed = t;
        done.add(pool.submit(() -> {
          Random rnd = new Random(seed);
          for (int i = 0; i < 20_000; i++) {
            long off = (long) rnd.nextInt(64) * TABLE;
            if (cache.get(off)[0] != off) {
              throw new AssertionError("wrong table for " + off);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    }
    assertThat(cache.size()).isLessThanOrEqualTo(16 + 8);
  }
}
