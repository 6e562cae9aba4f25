package dev.vdisk.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vdisk.format.CheckResult;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

/**
 * The layout arithmetic and the images {@link Qcow2Format#create} writes, judged by vdisk's own checker (qemu-img
 * judges them in the CLI's interop tests): refcounts that count exactly the clusters in use, for random options.
 */
class Qcow2CreateTest {
  /** One create request: options and a size. */
  record Request(Map<String, String> options, long size) {}

  @Property(tries = 300)
  void refcountEntriesReadBackWhatWasStoredWithoutTouchingNeighbours(@ForAll @IntRange(min = 0, max = 6) int order,
      @ForAll @IntRange(min = 0, max = 511) int index, @ForAll long value, @ForAll long neighbour) {
    RefcountWidth w = new RefcountWidth(order);
    ByteBuffer block = ByteBuffer.allocate(4096);
    long v = value & w.max();
    long n = neighbour & w.max();
    int other = index ^ 1;
    w.set(block, other, n);
    w.set(block, index, v);
    assertEquals(v, w.get(block, index));
    assertEquals(n, w.get(block, other));
  }

  @Property(tries = 500)
  void refcountStructuresCountThemselvesAndEverythingElse(@ForAll @LongRange(min = 0, max = 1L << 40) long clusters,
      @ForAll @IntRange(min = 9, max = 21) int clusterBits, @ForAll @IntRange(min = 0, max = 6) int order,
      @ForAll boolean generous) {
    RefcountWidth w = new RefcountWidth(order);
    MetadataSize.Refcounts r = MetadataSize.refcounts(clusters, clusterBits, w, generous);
    long perBlock = 1L << w.blockBits(clusterBits);
    assertTrue(r.blocks() * perBlock >= clusters + r.blocks() + r.tableClusters(), "blocks cover all clusters");
    assertTrue(r.tableClusters() * ((1L << clusterBits) / 8) >= r.blocks(), "the table holds every block");
    if (!generous && r.blocks() > 1) {
      assertTrue((r.blocks() - 1) * perBlock < clusters + r.blocks() - 1 + Math.ceilDiv(r.blocks() - 1, (1L << clusterBits) / 8),
          "one block fewer would not do: the fixed point is the smallest");
    }
  }

  @Property(tries = 60)
  void createdImagesAreCleanAndReadAsZeroes(@ForAll("requests") Request r) throws IOException {
    Path dir = Files.createTempDirectory("qcow2-create");
    try {
      Path image = dir.resolve("t.qcow2");
      // The data file in dir: a relative name is relative to the current directory, as in QEMU.
      Map<String, String> options = new LinkedHashMap<>(r.options());
      options.computeIfPresent("data_file", (k, name) -> dir.resolve(name).toString());
      new Qcow2Format().create(image, r.size(), options, false);
      Qcow2CreateOptions o = Qcow2CreateOptions.parse(options);
      long rounded = Math.ceilDiv(r.size(), 512) * 512;
      try (FileDevice f = FileDevice.open(image, FileOptions.of(CacheMode.WRITEBACK, true))) {
        List<String> problems = new ArrayList<>();
        CheckResult c = Qcow2Checker.check(f, p -> problems.add(p.message()));
        assertEquals(List.of(), problems, r.toString());
        assertEquals(0, c.corruptions() + c.leaks() + c.checkErrors(), r.toString());
        if (o.dataFile().isEmpty() && (o.preallocation() == Preallocation.FALLOC || o.preallocation() == Preallocation.FULL)) {
          // QEMU's create may place one refcount cluster more than its measure counts: qemu-img 7.2 itself makes a
          // 523,264-byte file for cluster_size=1024,refcount_bits=64,preallocation=falloc and size 509953, and
          // measures 522,240; vdisk's file there is byte-identical to qemu-img's (cmp, 2026-12-03).
          long measured = MetadataSize.fullyAllocated(rounded, o.geometry(), o.refcountWidth());
          assertTrue(f.size() >= measured && f.size() <= measured + o.geometry().clusterSize(),
              "the preallocated file's size " + f.size() + " is measure's " + measured + " or one cluster more: " + r);
        }
      }
      try (OpenImage img = Images.open(image, "qcow2", FileOptions.of(CacheMode.WRITEBACK, true))) {
        assertEquals(rounded, img.device().size());
        if (rounded > 0) {
          ByteBuffer b = ByteBuffer.allocate((int) Math.min(rounded, 4096));
          img.device().read(rounded - b.capacity(), b);
          assertTrue(b.flip().equals(ByteBuffer.allocate(b.limit())), "reads as zeroes: " + r);
        }
      }
    } finally {
      try (var files = Files.list(dir)) {
        for (Path p : files.toList()) {
          Files.delete(p);
        }
      }
      Files.delete(dir);
    }
  }

  @Provide
  Arbitrary<Request> requests() {
    Arbitrary<Integer> clusterBits = Arbitraries.integers().between(9, 21);
    Arbitrary<Integer> refcountBits = Arbitraries.of(1, 2, 4, 8, 16, 32, 64);
    Arbitrary<Preallocation> prealloc = Arbitraries.of(Preallocation.class);
    Arbitrary<Long> size = Arbitraries.longs().between(1, 40L << 20);
    Arbitrary<Boolean> extendedL2 = Arbitraries.of(true, false);
    Arbitrary<Boolean> dataFile = Arbitraries.of(true, false, false, false);
    return Combinators.combine(clusterBits, refcountBits, prealloc, size, extendedL2, dataFile).as((cb, rb, p, s, ext, df) -> {
      Map<String, String> o = new LinkedHashMap<>();
      o.put("cluster_size", String.valueOf(1 << cb));
      o.put("refcount_bits", String.valueOf(rb));
      o.put("preallocation", p.spelling());
      if (ext && cb >= 14) {
        o.put("extended_l2", "on");
      }
      if (df) {
        o.put("data_file", "t.data");
      }
      long bytes = p == Preallocation.FULL ? Math.min(s, 8L << 20) : s;
      return new Request(o, bytes);
    });
  }

  @Property(tries = 20)
  void badOptionsAreRefusedBeforeAnythingIsCreated(@ForAll("badOptions") Map<String, String> options) throws IOException {
    Path dir = Files.createTempDirectory("qcow2-bad");
    try {
      Path image = dir.resolve("t.qcow2");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new Qcow2Format().create(image, 1 << 20, options, false));
      String name = options.keySet().iterator().next();
      assertTrue(e.getMessage().contains("(expected") && !e.getMessage().contains("\n"), e.getMessage());
      assertTrue(options.keySet().stream().anyMatch(k -> e.getMessage().startsWith(k + ": ") || e.getMessage().startsWith("option '" + k)),
          name + " -> " + e.getMessage());
      try (var files = Files.list(dir)) {
        assertEquals(0, files.count());
      }
    } finally {
      Files.delete(dir);
    }
  }

  @Provide
  Arbitrary<Map<String, String>> badOptions() {
    return Arbitraries.of(
        Map.of("compat", "0.9"), Map.of("cluster_size", "1000"), Map.of("cluster_size", "256"),
        Map.of("cluster_size", "4M"), Map.of("cluster_size", "64x"), Map.of("refcount_bits", "3"),
        Map.of("refcount_bits", "128"), Map.of("refcount_bits", "0"), Map.of("refcount_bits", "x"),
        Map.of("lazy_refcounts", "maybe"), Map.of("extended_l2", "yes please"), Map.of("compression_type", "lz4"),
        Map.of("preallocation", "foo"), Map.of("data_file_raw", "on"), Map.of("backing_fmt", "raw"),
        Map.of("encrypt.format", "luks"), Map.of("nocow", "on"),
        new LinkedHashMap<>(Map.of("compat", "0.10", "refcount_bits", "8")),
        new LinkedHashMap<>(Map.of("extended_l2", "on", "cluster_size", "8k")));
  }
}
