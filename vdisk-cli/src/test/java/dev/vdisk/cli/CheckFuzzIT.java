package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Property: whatever damage is done to the metadata of valid images (header and extensions, L1, L2, refcount table
 * and blocks, snapshot table), {@code vdisk check} ends with a result (exit 0, 2 or 3 and qemu-img's JSON) or with
 * exit 1 and one clean error line; never an internal error, an exception escaping, an OutOfMemoryError or a hang.
 * And its verdict is qemu-img check's on the same mutant: the same exit code and, where both give a result, the
 * same corruption, leak and check-error counts.
 */
class CheckFuzzIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Path dir;
  private static List<Path> bases;
  private static List<List<long[]>> regions;
  private static final List<String> DIFFERENT = new ArrayList<>();

  /** One 64-bit word overwritten: region (index into the image's metadata list), word in it, how, and a random value. */
  record Mutation(int region, int word, int how, long random) {}

  @BeforeContainer
  static void makeImages() throws Exception {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
    dir = Files.createTempDirectory("vdisk-check-fuzz");
    bases = new ArrayList<>();
    regions = new ArrayList<>();
    for (String[] v : new String[][] {
        {"zlib4k", "cluster_size=4096"}, {"zstd-extl2", "compression_type=zstd,extended_l2=on"},
        {"rc1-v2", "compat=0.10,cluster_size=512"}}) {
      String src = v[0] + "-src.qcow2";
      String img = v[0] + ".qcow2";
      PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", src, "4M");
      PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 300k", "-c", "write -P 0x22 1M 64k", "-c", "write -P 0x33 3M 100k", src);
      PeerTools.check(dir, "qemu-img", "convert", "-c", "-O", "qcow2", "-o", v[1], src, img);
      PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x44 64k 8k", "-c", "write -z 2M 128k", "-c", "write -P 0x55 2200k 3k", img);
      PeerTools.check(dir, "qemu-img", "snapshot", "-c", "snap", img);
      PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x66 128k 64k", img);
      bases.add(dir.resolve(img));
      regions.add(Qcow2Damage.metadata(dir.resolve(img)));
    }
  }

  @AfterContainer
  static void verdictsAgreed() {
    System.out.println("CheckFuzzIT: " + DIFFERENT.size() + " mutants where vdisk check's verdict differs from qemu-img check's");
    DIFFERENT.forEach(d -> System.out.println("CheckFuzzIT: " + d.replace("\n", "\nCheckFuzzIT:   ")));
    assertThat(DIFFERENT).as("mutants judged otherwise than by qemu-img check").isEmpty();
  }

  @AfterContainer
  static void removeImages() throws IOException {
    if (dir != null) {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  @Provide
  Arbitrary<List<Mutation>> mutations() {
    return Combinators.combine(Arbitraries.integers().between(0, 1 << 20), Arbitraries.integers().between(0, 1 << 20),
        Arbitraries.integers().between(0, 5), Arbitraries.longs()).as(Mutation::new).list().ofMinSize(1).ofMaxSize(4);
  }

  /** A fixed seed: the same 1,000 mutants every run, so a verdict that differs from qemu-img's is never a fluke. */
  @Property(tries = 1000, edgeCases = EdgeCasesMode.MIXIN, seed = "4161926393518438599")
  void checkEndsWithAResultOrOneCleanError(@ForAll @IntRange(min = 0, max = 2) int base,
      @ForAll("mutations") List<Mutation> mutations) throws Exception {
    Path victim = dir.resolve("victim-" + base + ".qcow2");
    Files.copy(bases.get(base), victim, StandardCopyOption.REPLACE_EXISTING);
    long fileSize = Files.size(victim);
    for (Mutation m : mutations) {
      apply(victim, regions.get(base), m, fileSize);
    }
    int differentBefore = DIFFERENT.size();
    Vdisk.Result r = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> Vdisk.run("check", "-f", "qcow2", "--output=json", victim.toString()));
    PeerTools.Result q = PeerTools.run(dir, "qemu-img", "check", "-f", "qcow2", "--output=json", victim.toString());
    Statistics.label("exit status").collect(r.exit());
    String both = mutations + "\nvdisk (exit " + r.exit() + "): " + r.out() + r.err() + "\nqemu-img (exit " + q.exit() + "): "
        + q.out() + q.err();
    // Differences are gathered, not failed one by one, so that one run lists them all (see verdictsAgreed).
    if (r.exit() != q.exit()) {
      DIFFERENT.add("exit status: " + both);
    } else if (r.exit() != 1) {
      JsonNode ours = JSON.readTree(r.out());
      JsonNode theirs = JSON.readTree(q.out());
      for (String key : List.of("corruptions", "leaks", "check-errors")) {
        if (ours.path(key).asLong() != theirs.path(key).asLong()) {
          DIFFERENT.add(key + ": " + both);
        }
      }
    }
    Statistics.label("verdict as qemu-img's").collect(DIFFERENT.size() == differentBefore);
    assertThat(r.err()).as(mutations.toString()).doesNotContain("internal error");
    assertThat(r.exit()).as(mutations + "\n" + r.err()).isIn(0, 1, 2, 3);
    List<String> toolLines = r.err().lines().filter(l -> l.startsWith("vdisk")).toList();
    if (r.exit() == 1) {
      assertThat(toolLines).as(mutations + "\n" + r.err()).singleElement().asString().startsWith("vdisk check: ").contains("(expected: ");
    } else {
      assertThat(toolLines).as(r.err()).isEmpty();
      JsonNode json = JSON.readTree(r.out());
      assertThat(json.get("check-errors").asLong()).isZero();
      assertThat(json.has("corruptions")).isEqualTo(r.exit() == 2);
    }
  }

  /** Overwrites one word of a metadata region: random bits, one flipped bit, a flag, or an offset in or near the file. */
  private static void apply(Path image, List<long[]> regions, Mutation m, long fileSize) throws IOException {
    long[] region = regions.get(m.region() % regions.size());
    long words = Math.max(1, region[1] / 8);
    long at = region[0] + 8 * (m.word() % words);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(8);
      ch.read(b, at);
      long old = b.getLong(0);
      long r = m.random();
      long v = switch (m.how()) {
        case 0 -> r;
        case 1 -> old ^ (1L << (r & 63));
        case 2 -> old ^ (1L << (54 + Math.floorMod(r, 10)));
        case 3 -> (old & ~0x00ff_ffff_ffff_fe00L) | (Math.floorMod(r, fileSize * 2) & 0x00ff_ffff_ffff_fe00L);
        case 4 -> old | (1L << 62) | Math.floorMod(r, fileSize * 2);
        default -> old + (r & 0xffff);
      };
      ch.write(ByteBuffer.allocate(8).putLong(0, v), at);
    }
  }
}
