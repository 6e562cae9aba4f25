package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Concurrent overlapping writes to clusters in every state an allocating write meets (unallocated over a backing
 * file or over nothing, data, data zeroed with its storage kept, zero clusters, half-written clusters), with an L2
 * table boundary inside the region, started together on many threads while two more read the region in a loop:
 *
 * <ul>
 *   <li>every byte a reader sees during the race is the byte before the race or one a write covering it wrote (a
 *       new cluster is never exposed before its data, copy-on-write included, is written);
 *   <li>afterwards every cluster reads as some serial order of the writes that touch it leaves it: each byte holds
 *       the bytes of one write covering it (or its old byte if none does), and "this write came after those" is
 *       acyclic over the cluster's writes. A lost update, a copy-on-write of stale bytes over a neighbour's write, or
 *       a write to a released cluster breaks this. (Per cluster, not per request: overlapping concurrent writes
 *       spanning several clusters are not atomic as a whole on a disk, in QEMU, or here.);
 *   <li>the image reads the same after close and reopen, and {@code qemu-img check} finds no errors and no leak.
 * </ul>
 *
 * <p>Each write i stores, at guest byte g, {@code h(g) << 4 | (i + 1)}, where {@code h(g)} (from the 512-byte
 * sector of g) is never 0; the bytes before the race are {@code h(g) << 4} (backing file and data written first) or
 * 0 (zeroes), so any byte names its writer and misplaced sectors show.
 */
class Qcow2AllocationRaceIT {
  /** At most 15: a stamp's low nibble names the write. */
  private static final int MAX_WRITES = 15;
  private static final int READERS = 2;
  private static final int REGION_CLUSTERS = 6;

  /** The state a region cluster is put in (serially) before the race. */
  enum Prefill { NONE, DATA, DATA_ZEROED, ZERO_CLUSTER, FIRST_HALF, DISCARDED }

  record Layout(int clusterSize, boolean extendedL2, boolean backing) {
    String options() {
      return "cluster_size=" + clusterSize + (extendedL2 ? ",extended_l2=on" : "");
    }
  }

  /** A write of {@code length} bytes at {@code offset} into the region. */
  record Write(int offset, int length) {}

  record Case(Layout layout, List<Prefill> prefill, List<Write> writes) {}

  @BeforeContainer
  static void peers() {
    Qemu.require();
  }

  @Provide
  Arbitrary<Case> cases() {
    Arbitrary<Layout> layouts = Combinators.combine(
        Arbitraries.of(512, 4096, 65536, 32768), Arbitraries.of(true, false))
        .as((cs, backing) -> new Layout(cs, cs == 32768, backing));
    return layouts.flatMap(layout -> {
      int region = REGION_CLUSTERS * layout.clusterSize();
      Arbitrary<Write> write = Arbitraries.integers().between(0, region - 1).flatMap(offset -> Arbitraries.integers()
          .between(1, Math.min(region - offset, 3 * layout.clusterSize())).map(length -> new Write(offset, length)));
      return Combinators.combine(
          Arbitraries.of(Prefill.class).list().ofSize(REGION_CLUSTERS),
          write.list().ofMinSize(2).ofMaxSize(MAX_WRITES))
          .as((prefill, writes) -> new Case(layout, prefill, writes));
    });
  }

  @Property(tries = 60, shrinking = ShrinkingMode.OFF)
  void overlappingWritesReadBackAsASerialOrderPerCluster(@ForAll("cases") Case c) throws Exception {
    Path dir = Files.createTempDirectory("alloc-race");
    try {
      run(dir, c);
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  private static void run(Path dir, Case c) throws Exception {
    Layout layout = c.layout();
    int cs = layout.clusterSize();
    Geometry geometry = new Geometry(Integer.numberOfTrailingZeros(cs), layout.extendedL2());
    // The region straddles an L2 table boundary: runs stop there, and the second table is new.
    long start = geometry.bytesPerL2() - 3L * cs;
    long size = geometry.bytesPerL2() + 4L * cs;
    int region = REGION_CLUSTERS * cs;
    byte[] before = new byte[region];
    if (layout.backing()) {
      byte[] backing = new byte[region];
      for (int i = 0; i < region; i++) {
        backing[i] = base(start + i);
      }
      try (FileChannel ch = FileChannel.open(dir.resolve("base.raw"), StandardOpenOption.CREATE_NEW,
          StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(backing), start);
        ch.truncate(size);
      }
      Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", layout.options(), "-b", "base.raw", "-F", "raw", "t.qcow2",
          Long.toString(size));
      System.arraycopy(backing, 0, before, 0, region);
    } else {
      Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", layout.options(), "t.qcow2", Long.toString(size));
    }
    byte[] after;
    try (OpenImage img = Images.open(dir.resolve("t.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
      BlockDevice dev = img.device();
      prefill(dev, start, cs, c.prefill(), before);
      assertThat(Vdisk.read(dev, start, region)).as("the region after the prefill").isEqualTo(before);
      race(dev, start, c.writes(), before);
      after = Vdisk.read(dev, start, region);
      checkSerialPerCluster(c.writes(), before, after, cs, start);
    }
    try (OpenImage img = Images.open(dir.resolve("t.qcow2"), "qcow2", FileOptions.of(CacheMode.WRITEBACK, true))) {
      assertThat(Vdisk.read(img.device(), start, region)).as("after reopening").isEqualTo(after);
    }
    assertThat(Qemu.img(dir, "check", "t.qcow2")).contains("No errors were found on the image.");
  }

  /** Puts each cluster of the region in its state, serially, and records in {@code model} what it reads as. */
  private static void prefill(BlockDevice dev, long start, int cs, List<Prefill> prefill, byte[] model)
      throws IOException {
    for (int k = 0; k < prefill.size(); k++) {
      long at = start + (long) k * cs;
      int from = k * cs;
      switch (prefill.get(k)) {
        case NONE -> { }
        case DATA -> writeBase(dev, at, cs, model, from);
        case FIRST_HALF -> writeBase(dev, at, cs / 2, model, from);
        case DATA_ZEROED -> {
          writeBase(dev, at, cs, model, from);
          dev.writeZeroes(at, cs, Set.of());
          Arrays.fill(model, from, from + cs, (byte) 0);
        }
        case ZERO_CLUSTER -> {
          dev.writeZeroes(at, cs, Set.of(WriteFlag.MAY_TRIM));
          Arrays.fill(model, from, from + cs, (byte) 0);
        }
        case DISCARDED -> {
          writeBase(dev, at, cs, model, from);
          dev.discard(at, cs);
          // A version 3 image reads a discarded cluster as zeroes, backing file or not.
          Arrays.fill(model, from, from + cs, (byte) 0);
        }
      }
    }
    dev.flush();
  }

  private static void writeBase(BlockDevice dev, long at, int length, byte[] model, int from) throws IOException {
    byte[] b = new byte[length];
    for (int i = 0; i < length; i++) {
      b[i] = base(at + i);
    }
    dev.write(at, ByteBuffer.wrap(b), Set.of());
    System.arraycopy(b, 0, model, from, length);
  }

  /** Runs every write on its own thread, all released at once, while readers check every byte they see. */
  private static void race(BlockDevice dev, long start, List<Write> writes, byte[] before) throws Exception {
    int region = before.length;
    CyclicBarrier go = new CyclicBarrier(writes.size() + READERS);
    AtomicBoolean writing = new AtomicBoolean(true);
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    List<Thread> writers = new ArrayList<>();
    List<Thread> readers = new ArrayList<>();
    for (int i = 0; i < writes.size(); i++) {
      Write w = writes.get(i);
      int id = i;
      writers.add(Thread.ofPlatform().start(() -> {
        try {
          byte[] b = new byte[w.length()];
          for (int j = 0; j < b.length; j++) {
            b[j] = stamp(id, start + w.offset() + j);
          }
          go.await();
          dev.write(start + w.offset(), ByteBuffer.wrap(b), Set.of());
        } catch (Throwable t) {
          failures.add(t);
        }
      }));
    }
    for (int r = 0; r < READERS; r++) {
      readers.add(Thread.ofPlatform().start(() -> {
        try {
          go.await();
          do {
            byte[] seen = Vdisk.read(dev, start, region);
            for (int g = 0; g < region; g++) {
              if (seen[g] != before[g] && writerOf(writes, g, seen[g], start) < 0) {
                throw new AssertionError("a reader saw byte " + seen[g] + " at guest offset " + (start + g)
                    + " during the race: neither the old byte " + before[g] + " nor one a write covering it wrote");
              }
            }
          } while (writing.get());
        } catch (Throwable t) {
          failures.add(t);
        }
      }));
    }
    for (Thread t : writers) {
      t.join();
    }
    writing.set(false);
    for (Thread t : readers) {
      t.join();
    }
    if (!failures.isEmpty()) {
      AssertionError e = new AssertionError("the race failed: " + failures.peek());
      failures.forEach(e::addSuppressed);
      throw e;
    }
  }

  /**
   * Asserts that every cluster reads as a serial order of the writes that touch it: each byte holds the stamp of a
   * write covering it (its old byte where none does), and the precedences that implies (the covering writes whose
   * stamp lost came before the one whose stamp shows) have no cycle.
   */
  private static void checkSerialPerCluster(List<Write> writes, byte[] before, byte[] after, int cs, long start) {
    int n = writes.size();
    for (int from = 0; from < after.length; from += cs) {
      boolean[][] earlier = new boolean[n][n];
      for (int g = from; g < from + cs; g++) {
        int w = writerOf(writes, g, after[g], start);
        boolean covered = false;
        for (int i = 0; i < n && !covered; i++) {
          covered = covers(writes.get(i), g);
        }
        if (!covered) {
          assertThat(after[g]).as("guest byte %d, which no write covers", start + g).isEqualTo(before[g]);
          continue;
        }
        assertThat(w).as("guest byte %d reads %d: the stamp of a write covering it", start + g, after[g])
            .isGreaterThanOrEqualTo(0);
        for (int i = 0; i < n; i++) {
          if (i != w && covers(writes.get(i), g)) {
            earlier[i][w] = true;
          }
        }
      }
      assertThat(hasCycle(earlier)).as("the cluster at guest offset %d reads as a serial order of its writes %s",
          start + from, writes).isFalse();
    }
  }

  private static boolean hasCycle(boolean[][] earlier) {
    int n = earlier.length;
    boolean[][] reach = new boolean[n][];
    for (int i = 0; i < n; i++) {
      reach[i] = earlier[i].clone();
    }
    for (int k = 0; k < n; k++) {
      for (int i = 0; i < n; i++) {
        if (reach[i][k]) {
          for (int j = 0; j < n; j++) {
            reach[i][j] |= reach[k][j];
          }
        }
      }
    }
    for (int i = 0; i < n; i++) {
      if (reach[i][i]) {
        return true;
      }
    }
    return false;
  }

  /** The write covering region byte {@code g} whose stamp {@code value} is, or -1. */
  private static int writerOf(List<Write> writes, int g, byte value, long start) {
    for (int i = 0; i < writes.size(); i++) {
      if (covers(writes.get(i), g) && stamp(i, start + g) == value) {
        return i;
      }
    }
    return -1;
  }

  private static boolean covers(Write w, int g) {
    return g >= w.offset() && g < w.offset() + w.length();
  }

  /** The high nibble of every non-zero byte at guest offset {@code g}: 1 to 15, from its 512-byte sector. */
  private static int sector(long g) {
    return (int) ((g >>> 9) % 15) + 1;
  }

  private static byte base(long g) {
    return (byte) (sector(g) << 4);
  }

  private static byte stamp(int write, long g) {
    return (byte) (sector(g) << 4 | (write + 1));
  }
}
