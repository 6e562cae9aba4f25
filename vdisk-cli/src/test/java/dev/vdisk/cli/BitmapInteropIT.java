package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Persistent dirty bitmaps against QEMU: bitmaps added by {@code qemu-img bitmap}, then the same requests through
 * {@code vdisk io} on one copy and {@code qemu-io} on another. vdisk's copy must show the same bitmaps in
 * {@code qemu-img info} (no in-use flag after the clean close), pass {@code qemu-img check} with no leaks, and
 * report the same dirty runs through {@code qemu-nbd -B} and {@code nbdinfo --map=qemu:dirty-bitmap:NAME}.
 */
class BitmapInteropIT {
  /** Writes, zeroes with and without unmap, discards of whole and partial clusters, a write at the very end. */
  private static final List<String> REQUESTS = List.of("write -P 1 1M 64k", "write -P 2 3146240 1000",
      "write -z 5M 4k", "write -z -u 8M 1M", "discard 10M 1M", "discard 20971620 3000", "write -P 3 67107840 1024");
  /** b1: QEMU's default granularity; b2: the smallest; b3: disabled; b4: 2 MiB granules. */
  private static final String[][] BITMAPS = {{"b1"}, {"-g", "512", "b2"}, {"--disable", "b3"}, {"-g", "2M", "b4"}};

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    BitmapPeers.require();
  }

  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=65536", "cluster_size=4096", "cluster_size=512,refcount_bits=1",
      "extended_l2=on,cluster_size=16384", "lazy_refcounts=on", "cluster_size=2097152", "data_file=data.raw"})
  void writesThroughVdiskKeepBitmapsAsQemuKeepsThem(String options) throws Exception {
    // Absolute data file names: a relative one is relative to the current directory, not the test's for vdisk.
    Path ours = withBitmaps("ours.qcow2", options.replace("data.raw", dir.resolve("ours.raw").toString()));
    Path theirs = withBitmaps("theirs.qcow2", options.replace("data.raw", dir.resolve("theirs.raw").toString()));
    // A first session by QEMU sets bits that vdisk must keep.
    for (Path p : List.of(ours, theirs)) {
      PeerTools.check(dir, "qemu-io", "-c", "write -P 9 30M 128k", p.toString());
    }
    List<String> io = new ArrayList<>(List.of("io", "-f", "qcow2"));
    for (String r : REQUESTS) {
      io.addAll(List.of("-c", r));
    }
    io.add(ours.toString());
    Vdisk.Result w = Vdisk.run(io.toArray(String[]::new));
    assertThat(w.exit()).as(w.err()).isZero();
    List<String> qemu = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
    for (String r : REQUESTS) {
      qemu.addAll(List.of("-c", r));
    }
    qemu.add(theirs.toString());
    PeerTools.check(dir, qemu.toArray(String[]::new));

    assertSameBitmaps(ours, theirs);
    PeerTools.check(dir, "qemu-img", "compare", ours.toString(), theirs.toString());
  }

  /** vdisk and QEMU write in turn: each keeps what the other marked. */
  @Test
  void bitmapsSurviveSessionsOfBothInTurn() throws Exception {
    Path ours = withBitmaps("ours.qcow2", "cluster_size=65536");
    Path theirs = withBitmaps("theirs.qcow2", "cluster_size=65536");
    String[][] sessions = {{"write 0 4k", "discard 2M 2M"}, {"write -z 6M 128k"}, {"write 9M 100", "write 40M 1M"}};
    for (int i = 0; i < sessions.length; i++) {
      List<String> cmd = new ArrayList<>();
      for (String r : sessions[i]) {
        cmd.addAll(List.of("-c", r));
      }
      List<String> q = new ArrayList<>(List.of("qemu-io"));
      q.addAll(cmd);
      PeerTools.check(dir, concat(q, theirs.toString()));
      if (i % 2 == 0) {
        List<String> v = new ArrayList<>(List.of("io"));
        v.addAll(cmd);
        Vdisk.Result r = Vdisk.run(concat(v, ours.toString()));
        assertThat(r.exit()).as(r.err()).isZero();
      } else {
        PeerTools.check(dir, concat(q, ours.toString()));
      }
    }
    assertSameBitmaps(ours, theirs);
  }

  /** A bitmap QEMU left in use (its process aborted) stays in use; the others are kept true. */
  @Test
  void aBitmapLeftInUseStaysInUse() throws Exception {
    Path ours = withBitmaps("ours.qcow2", "cluster_size=65536");
    PeerTools.run(dir, "qemu-io", "-c", "write 0 64k", "-c", "abort", ours.toString());
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", ours.toString(), "fresh");
    Path theirs = dir.resolve("theirs.qcow2");
    Files.copy(ours, theirs);
    Vdisk.Result r = Vdisk.run("io", "-c", "write 5M 64k", ours.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    PeerTools.check(dir, "qemu-io", "-c", "write 5M 64k", theirs.toString());
    assertSameBitmaps(ours, theirs);
    assertThat(bitmaps(ours).get(0).get("flags").toString()).contains("in-use");
    // QEMU refuses to resize an image with an inconsistent bitmap; so does vdisk, with one line, changing nothing.
    byte[] before = Files.readAllBytes(ours);
    PeerTools.Result q = PeerTools.run(dir, "qemu-img", "resize", theirs.toString(), "+1M");
    Vdisk.Result v = Vdisk.run("resize", ours.toString(), "+1M");
    assertThat(v.exit()).isEqualTo(q.exit()).isEqualTo(1);
    assertThat(v.errLines()).hasSize(1);
    assertThat(v.err()).contains("bitmap 'b1' is inconsistent");
    assertThat(Files.readAllBytes(ours)).isEqualTo(before);
  }

  /** Resizes keep bitmaps as QEMU does: shrinking drops the granules past the end, growing adds clean ones. */
  @Test
  void resizeKeepsBitmapsAsQemuImgResize() throws Exception {
    Path ours = withBitmaps("ours.qcow2", "cluster_size=65536");
    Path theirs = withBitmaps("theirs.qcow2", "cluster_size=65536");
    for (Path p : List.of(ours, theirs)) {
      PeerTools.check(dir, "qemu-io", "-c", "write 1M 64k", "-c", "write 60M 2M", p.toString());
    }
    String[][] steps = {{"+3M"}, {"--shrink", "61M"}, {"100M"}};
    for (String[] step : steps) {
      List<String> options = List.of(step).subList(0, step.length - 1);
      String size = step[step.length - 1];
      List<String> ourCmd = new ArrayList<>(List.of("resize"));
      ourCmd.addAll(options);
      Vdisk.Result r = Vdisk.run(concat(ourCmd, ours.toString(), size));
      assertThat(r.exit()).as(r.err()).isZero();
      List<String> theirCmd = new ArrayList<>(List.of("qemu-img", "resize"));
      theirCmd.addAll(options);
      PeerTools.check(dir, concat(theirCmd, theirs.toString(), size));
      assertSameBitmaps(ours, theirs);
    }
  }

  /** convert -n into an image with bitmaps marks what it writes. */
  @Test
  void convertIntoAnImageMarksItsBitmaps() throws Exception {
    Path source = dir.resolve("source.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "64M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 7 2M 1M", "-c", "write -P 8 50M 64k", source.toString());
    Path ours = withBitmaps("ours.qcow2", "cluster_size=65536");
    Path theirs = withBitmaps("theirs.qcow2", "cluster_size=65536");
    Vdisk.Result r = Vdisk.run("convert", "-n", "-O", "qcow2", source.toString(), ours.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    PeerTools.check(dir, "qemu-img", "convert", "-n", "-O", "qcow2", source.toString(), theirs.toString());
    PeerTools.check(dir, "qemu-img", "compare", ours.toString(), theirs.toString());
    assertThat(dirty(ours, "b1")).contains("dirty");
    assertThat(check(ours)).isEqualTo(0);
  }

  /**
   * convert --bitmaps copies the source's bitmaps as qemu-img convert does (same info, runs, clean check); its
   * refusals (raw source or target, v2 target, an inconsistent bitmap, --skip-broken-bitmaps alone, -n into an image
   * with a bitmap of the same name) give qemu-img's exit code, message and target file (created or not).
   */
  @Test
  void convertBitmapsCopiesThemAsQemuImg() throws Exception {
    Path source = withBitmaps("source.qcow2", "cluster_size=4096");
    PeerTools.check(dir, "qemu-io", "-c", "write 1M 64k", "-c", "discard 9M 1M", "-c", "write 63M 4k", source.toString());
    Path broken = withBitmaps("broken.qcow2", "cluster_size=65536");
    PeerTools.run(dir, "qemu-io", "-c", "write 0 64k", "-c", "abort", broken.toString());
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "plain.raw", "64M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "ours-n.qcow2", "64M");
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", "ours-n.qcow2", "b3");
    Files.copy(dir.resolve("ours-n.qcow2"), dir.resolve("theirs-n.qcow2"));
    String[][] cases = {
        {"--bitmaps", "-O", "qcow2", "source.qcow2", "T.qcow2"},
        {"--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", "broken.qcow2", "T.qcow2"},
        {"--bitmaps", "-O", "qcow2", "broken.qcow2", "T.qcow2"},
        {"--bitmaps", "-O", "raw", "source.qcow2", "T.raw"},
        {"--bitmaps", "-O", "qcow2", "-o", "compat=0.10", "source.qcow2", "T.qcow2"},
        {"--bitmaps", "-O", "qcow2", "plain.raw", "T.qcow2"},
        {"--skip-broken-bitmaps", "-O", "qcow2", "source.qcow2", "T.qcow2"},
        {"-n", "--bitmaps", "-O", "qcow2", "source.qcow2", "T-n.qcow2"}};
    for (String[] c : cases) {
      List<String> q = new ArrayList<>(List.of("qemu-img", "convert"));
      List<String> v = new ArrayList<>(List.of("convert"));
      for (String a : c) {
        q.add(a.startsWith("T") ? dir.resolve(a.replace("T", "theirs")).toString() : a.endsWith(".qcow2") || a.endsWith(".raw") ? dir.resolve(a).toString() : a);
        v.add(a.startsWith("T") ? dir.resolve(a.replace("T", "ours")).toString() : a.endsWith(".qcow2") || a.endsWith(".raw") ? dir.resolve(a).toString() : a);
      }
      String what = String.join(" ", c);
      PeerTools.Result theirs = PeerTools.run(dir, q.toArray(String[]::new));
      Vdisk.Result ours = Vdisk.run(v.toArray(String[]::new));
      assertThat(ours.exit()).as(what + ": " + ours.err()).isEqualTo(theirs.exit());
      assertThat(oneLine(ours.err(), "vdisk convert: ")).as(what).isEqualTo(oneLine(theirs.err(), "qemu-img: "));
      String target = c[c.length - 1];
      Path ourTarget = dir.resolve(target.replace("T", "ours"));
      Path theirTarget = dir.resolve(target.replace("T", "theirs"));
      assertThat(Files.exists(ourTarget)).as(what + ": target created").isEqualTo(Files.exists(theirTarget));
      if (theirs.exit() == 0) {
        assertSameBitmaps(ourTarget, theirTarget);
      }
      if (!target.contains("-n")) {
        Files.deleteIfExists(ourTarget);
        Files.deleteIfExists(theirTarget);
      }
    }
  }

  /** Messages without the program's prefix, their lines joined with spaces. */
  private static String oneLine(String err, String prefix) {
    return String.join(" ", err.lines().map(l -> l.startsWith(prefix) ? l.substring(prefix.length()) : l).toList());
  }

  /** Bitmaps too large to keep in memory: writing is refused with one line and the file stays as it was. */
  @Test
  void bitmapsTooLargeToKeepRefuseWriting() throws Exception {
    Path image = dir.resolve("huge.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "1T");
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", "-g", "512", image.toString(), "fine");
    byte[] before = Files.readAllBytes(image);
    Vdisk.Result r = Vdisk.run("io", "-c", "write 0 64k", image.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).hasSize(1);
    assertThat(r.err()).contains("persistent bitmaps").contains("expected: at most 67108864");
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
    assertThat(Vdisk.run("io", "-r", "-c", "read 0 64k", image.toString()).exit()).as("read-only use").isZero();
  }

  /** vdisk info prints the bitmaps as qemu-img info does, in text and JSON: fresh, dirtied, in use, and stale ones. */
  @Test
  void infoShowsBitmapsAsQemuImg() throws Exception {
    Path fresh = withBitmaps("fresh.qcow2", "cluster_size=65536,data_file=fresh.raw");
    Path dirtied = withBitmaps("dirtied.qcow2", "cluster_size=4096,lazy_refcounts=on");
    PeerTools.check(dir, "qemu-io", "-c", "write 0 1M", dirtied.toString());
    Path inUse = withBitmaps("in-use.qcow2", "cluster_size=65536");
    PeerTools.run(dir, "qemu-io", "-c", "write 0 64k", "-c", "abort", inUse.toString());
    Path stale = withBitmaps("stale.qcow2", "cluster_size=65536");
    try (var ch = java.nio.channels.FileChannel.open(stale, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.allocate(8), 88);
    }
    for (Path p : List.of(fresh, dirtied, inUse, stale)) {
      for (String output : List.of("human", "json")) {
        String theirs = PeerTools.check(dir, "qemu-img", "info", "--output=" + output, p.toString());
        Vdisk.Result ours = Vdisk.run("info", "--output=" + output, p.toString());
        assertThat(ours.exit()).as(ours.err()).isZero();
        assertThat(ours.out()).as("info --output=" + output + " of " + p.getFileName()).isEqualTo(theirs);
      }
    }
  }

  private Path withBitmaps(String name, String options) throws Exception {
    Path p = dir.resolve(name);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options, p.toString(), "64M");
    for (String[] b : BITMAPS) {
      List<String> cmd = new ArrayList<>(List.of("qemu-img", "bitmap", "--add"));
      cmd.addAll(List.of(b).subList(0, b.length - 1));
      cmd.add(p.toString());
      cmd.add(b[b.length - 1]);
      PeerTools.check(dir, cmd.toArray(String[]::new));
    }
    return p;
  }

  private void assertSameBitmaps(Path ours, Path theirs) throws Exception {
    BitmapPeers.assertSame(dir, ours, theirs);
  }

  private JsonNode bitmaps(Path image) throws Exception {
    return BitmapPeers.bitmaps(dir, image);
  }

  private int check(Path image) throws Exception {
    return BitmapPeers.check(dir, image);
  }

  private String dirty(Path image, String name) throws Exception {
    return BitmapPeers.dirty(dir, image, name);
  }

  private static String[] concat(List<String> head, String... tail) {
    List<String> all = new ArrayList<>(head);
    all.addAll(List.of(tail));
    return all.toArray(String[]::new);
  }
}
