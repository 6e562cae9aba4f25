package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

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
 * {@code vdisk snapshot -c/-a/-d} against {@code qemu-img snapshot} 7.2: snapshots vdisk makes are listed, read
 * ({@code qemu-img convert -l}), applied and deleted by qemu-img, and the reverse, with writes of both tools (vdisk's
 * copy-on-write of shared clusters included) between the steps; after every step {@code qemu-img check} finds no
 * error and no leak, and every snapshot reads back as the disk was when it was taken. Bad input gets qemu-img's
 * message and exit code and leaves the file as it was.
 */
class SnapshotInteropIT {
  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  /** The guest disk now, as raw bytes read by qemu-img. */
  private byte[] contents(Path image, String snapshot) throws Exception {
    Path raw = dir.resolve("contents.raw");
    Files.deleteIfExists(raw);
    List<String> cmd = new ArrayList<>(List.of("qemu-img", "convert", "-f", "qcow2"));
    if (snapshot != null) {
      cmd.addAll(List.of("-l", snapshot));
    }
    cmd.addAll(List.of("-O", "raw", image.toString(), raw.toString()));
    PeerTools.check(dir, cmd.toArray(String[]::new));
    return Files.readAllBytes(raw);
  }

  private void clean(Path image, String after) throws Exception {
    PeerTools.Result r = PeerTools.run(dir, "qemu-img", "check", image.toString());
    assertThat(r.exit()).as("qemu-img check after " + after + ": " + r.out() + r.err()).isZero();
    assertThat(r.out()).as("after " + after).contains("No errors were found on the image.");
  }

  private void vdisk(String... args) {
    Vdisk.Result r = Vdisk.run(args);
    assertThat(r.exit()).as("vdisk " + String.join(" ", args) + ": " + r.err()).isZero();
  }

  private void qemuIo(Path image, String... commands) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
    for (String c : commands) {
      cmd.addAll(List.of("-c", c));
    }
    cmd.add(image.toString());
    PeerTools.check(dir, cmd.toArray(String[]::new));
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cluster_size=65536", "cluster_size=512", "cluster_size=2097152", "extended_l2=on",
      "compat=0.10", "refcount_bits=4", "refcount_bits=64", "lazy_refcounts=on", "cluster_size=4096,refcount_bits=8"})
  void snapshotsPassBetweenVdiskAndQemuImg(String options) throws Exception {
    Path img = dir.resolve("disk.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options, img.toString(), "24M");
    String f = img.toString();
    // One cluster (at least 64 KiB) of compressed data: more would overflow narrow refcounts of the host clusters
    // the compressed clusters share (QEMU's snapshot fails there too: badInputAsQemuImg's refcount1).
    int cluster = options.contains("cluster_size=") ? Integer.parseInt(options.replaceAll(".*cluster_size=(\\d+).*", "$1")) : 65536;
    qemuIo(img, "write -P 0x11 0 3M", "write -c -P 0x12 8M " + Math.max(cluster, 65536), "write -z 12M 1M",
        "write -P 0x13 23M 1M");
    byte[] first = contents(img, null);

    vdisk("snapshot", "-c", "first", f);
    clean(img, "vdisk snapshot -c first");
    // Writes after the snapshot copy shared clusters: vdisk's and QEMU's.
    vdisk("io", "-f", "qcow2", "-c", "write -P 0x21 1M 1M", "-c", "write -z 8M 64k", "-c", "discard 23M 512k", f);
    clean(img, "vdisk io after a vdisk snapshot");
    assertThat(contents(img, "first")).as("snapshot 'first' after vdisk's writes").isEqualTo(first);
    qemuIo(img, "write -P 0x22 2M 512k");
    byte[] second = contents(img, null);

    PeerTools.check(dir, "qemu-img", "snapshot", "-c", "second", f);
    clean(img, "qemu-img snapshot -c second");
    vdisk("io", "-f", "qcow2", "-c", "write -P 0x31 0 4M", f);
    clean(img, "vdisk io after a qemu-img snapshot");
    assertThat(contents(img, "second")).as("QEMU's snapshot after vdisk's writes").isEqualTo(second);
    vdisk("snapshot", "-c", "third", f);
    byte[] third = contents(img, null);
    clean(img, "vdisk snapshot -c third");

    String list = PeerTools.check(dir, "qemu-img", "snapshot", "-l", f);
    assertThat(list).contains(" first ", " second ", " third ");
    assertThat(Vdisk.run("snapshot", "-l", f).out()).as("vdisk snapshot -l").isEqualTo(list);
    assertThat(contents(img, "first")).isEqualTo(first);
    assertThat(contents(img, "1")).as("by ID").isEqualTo(first);
    assertThat(contents(img, "third")).isEqualTo(third);

    PeerTools.check(dir, "qemu-img", "snapshot", "-a", "first", f);
    clean(img, "qemu-img snapshot -a of a vdisk snapshot");
    assertThat(contents(img, null)).isEqualTo(first);
    vdisk("snapshot", "-a", "second", f);
    clean(img, "vdisk snapshot -a of a QEMU snapshot");
    assertThat(contents(img, null)).isEqualTo(second);
    vdisk("io", "-f", "qcow2", "-c", "write -P 0x41 5M 1M", f);
    clean(img, "vdisk io after vdisk snapshot -a");
    assertThat(contents(img, "second")).isEqualTo(second);

    vdisk("snapshot", "-d", "second", f);
    clean(img, "vdisk snapshot -d of a QEMU snapshot");
    PeerTools.check(dir, "qemu-img", "snapshot", "-d", "first", f);
    clean(img, "qemu-img snapshot -d of a vdisk snapshot");
    assertThat(contents(img, "third")).isEqualTo(third);
    vdisk("snapshot", "-a", "3", f);
    assertThat(contents(img, null)).isEqualTo(third);
    vdisk("snapshot", "-d", "third", f);
    clean(img, "deleting the last snapshot");
    assertThat(PeerTools.check(dir, "qemu-img", "snapshot", "-l", f)).isEmpty();
    assertThat(contents(img, null)).isEqualTo(third);
  }

  /**
   * {@code vdisk serve -l} exports a snapshot read-only as {@code qemu-nbd -l} does: the same bytes as {@code qemu-img
   * convert -l} (read through nbdcopy), read-only, the image untouched; a missing snapshot is qemu-nbd's message.
   */
  @Test
  void serveLoadsASnapshotReadOnly() throws Exception {
    PeerTools.require("nbdcopy");
    PeerTools.require("qemu-nbd");
    Path img = dir.resolve("served.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "8M");
    qemuIo(img, "write -P 0x61 0 3M");
    vdisk("snapshot", "-c", "old", img.toString());
    qemuIo(img, "write -P 0x62 1M 3M");
    byte[] old = contents(img, "old");
    byte[] before = Files.readAllBytes(img);
    for (String spec : List.of("old", "1", "snapshot.name=old", "snapshot.id=1,snapshot.name=old")) {
      java.io.StringWriter log = new java.io.StringWriter();
      java.io.PrintWriter out = new java.io.PrintWriter(log, true);
      dev.vdisk.nbd.server.Export e = SnapshotSource.export(new ExportSpec("", img.toString(), "qcow2",
          dev.vdisk.io.CacheMode.WRITEBACK, true, dev.vdisk.nbd.server.DiscardMode.IGNORE, "")
          .open(new dev.vdisk.nbd.server.EventLog(out), out), spec);
      assertThat(e.readOnly()).isTrue();
      dev.vdisk.nbd.server.NbdServer server = new dev.vdisk.nbd.server.NbdServer(List.of(e),
          dev.vdisk.nbd.server.ServerConfig.DEFAULTS, new dev.vdisk.nbd.server.EventLog(out));
      Path sock = dir.resolve("snap.sock");
      Files.deleteIfExists(sock);
      server.listen(java.net.UnixDomainSocketAddress.of(sock));
      Path copy = dir.resolve("served.raw");
      Files.deleteIfExists(copy);
      try {
        PeerTools.check(dir, "nbdcopy", "nbd+unix:///?socket=" + sock, copy.toString());
      } finally {
        server.stop(java.time.Duration.ofSeconds(5));
      }
      assertThat(Files.readAllBytes(copy)).as("serve -l " + spec).isEqualTo(old);
    }
    assertThat(Files.readAllBytes(img)).isEqualTo(before);
    PeerTools.Result theirs = PeerTools.run(dir, "qemu-nbd", "-l", "nope", "-k", dir.resolve("q.sock").toString(), "-f",
        "qcow2", img.toString());
    Vdisk.Result ours = Vdisk.run("serve", "-l", "nope", "-k", dir.resolve("v.sock").toString(), "-f", "qcow2",
        img.toString());
    assertThat(ours.exit()).isEqualTo(theirs.exit()).isEqualTo(1);
    assertThat(ours.err().replace("vdisk serve: ", "")).isEqualTo(theirs.err().replace("qemu-nbd: ", ""));
  }

  /**
   * {@code vdisk serve -s}, as {@code qemu-nbd -s}: writes through the export land in a temporary overlay, reads see
   * them, the image stays byte for byte as it was, and the overlay is gone once the server ends.
   */
  @Test
  void serveSnapshotModeLeavesTheImageAlone() throws Exception {
    Path img = dir.resolve("protected.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "8M");
    qemuIo(img, "write -P 0x71 0 2M");
    byte[] before = Files.readAllBytes(img);
    Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
    java.util.function.Supplier<Long> overlays = () -> {
      try (var files = Files.list(tmp)) {
        return files.filter(p -> p.getFileName().toString().startsWith("vdisk-snapshot-")).count();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
    long overlaysBefore = overlays.get();
    Path sock = dir.resolve("s.sock");
    java.util.concurrent.CompletableFuture<Vdisk.Result> server = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> Vdisk.run("serve", "-s", "-k", sock.toString(), "-f", "qcow2", img.toString()));
    for (int i = 0; i < 100 && !Files.exists(sock); i++) {
      Thread.sleep(100);
    }
    String out = PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x72 1M 2M", "-c", "read -P 0x72 1M 2M",
        "-c", "read -P 0x71 0 1M", "nbd+unix:///?socket=" + sock);
    assertThat(out).doesNotContain("Pattern verification failed");
    Vdisk.Result r = server.get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.readAllBytes(img)).as("the image under serve -s").isEqualTo(before);
    assertThat(overlays.get()).as("temporary overlays left").isEqualTo(overlaysBefore);
  }

  /** Names as qemu-img takes them: duplicates allowed (new IDs), long ones cut to 255 bytes, IDs 1 more than the largest. */
  @Test
  void namesAndIdsAsQemuImg() throws Exception {
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    for (Path p : List.of(ours, theirs)) {
      PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", p.toString(), "1M");
    }
    String longName = "n".repeat(300);
    for (String name : List.of("a", "a", longName, "1", "", "ünï")) {
      Vdisk.Result v = Vdisk.run("snapshot", "-c", name, ours.toString());
      PeerTools.Result q = PeerTools.run(dir, "qemu-img", "snapshot", "-c", name, theirs.toString());
      assertThat(v.exit()).as("-c '" + name + "'").isEqualTo(q.exit()).isZero();
    }
    PeerTools.check(dir, "qemu-img", "snapshot", "-d", "a", ours.toString());
    PeerTools.check(dir, "qemu-img", "snapshot", "-d", "a", theirs.toString());
    Vdisk.run("snapshot", "-c", "after", ours.toString());
    PeerTools.check(dir, "qemu-img", "snapshot", "-c", "after", theirs.toString());
    assertThat(withoutDates(Vdisk.run("snapshot", "-l", ours.toString()).out()))
        .isEqualTo(withoutDates(PeerTools.check(dir, "qemu-img", "snapshot", "-l", theirs.toString())));
    clean(ours, "names");
  }

  private static String withoutDates(String list) {
    return list.replaceAll("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d", "DATE");
  }

  /** QEMU 7.2 resizes a version 3 image with snapshots both ways; applying a snapshot brings back its size. */
  @Test
  void resizeKeepsSnapshots() throws Exception {
    Path img = dir.resolve("r.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "8M");
    qemuIo(img, "write -P 0x51 0 8M");
    byte[] before = contents(img, null);
    vdisk("snapshot", "-c", "s", img.toString());
    vdisk("resize", "-f", "qcow2", img.toString(), "16M");
    clean(img, "growing");
    vdisk("resize", "-f", "qcow2", "--shrink", img.toString(), "2M");
    clean(img, "shrinking");
    // qemu-img convert -l reads a snapshot at the image's current virtual size (QEMU 7.2's qcow2_snapshot_load_tmp).
    assertThat(contents(img, "s")).isEqualTo(java.util.Arrays.copyOf(before, 2 << 20));
    assertThat(contents(img, null)).hasSize(2 << 20);
    vdisk("snapshot", "-a", "s", img.toString());
    clean(img, "applying a snapshot of another size");
    assertThat(contents(img, null)).isEqualTo(before);
    assertThat(PeerTools.check(dir, "qemu-img", "info", img.toString())).contains("virtual size: 8 MiB");
  }

  /**
   * Refusals: each gives qemu-img's message (after the program's prefix) and exit code on copies of the same image,
   * and leaves the file byte for byte as it was.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"-a nope", "-d nope", "-a 9", "-d 1", "refcount1 -c t", "bitmap -a s", "bitmap -a nope", "raw -c s", "raw -a s",
      "raw -d s", "datafile -c s", "-U -c s", "-U -d s"})
  void badInputAsQemuImg(String step) throws Exception {
    List<String> words = new ArrayList<>(List.of(step.split(" ")));
    String kind = words.getFirst().startsWith("-") ? "plain" : words.removeFirst();
    List<Path> images = new ArrayList<>();
    for (String name : List.of("ours", "theirs")) {
      Path p = dir.resolve(name + (kind.equals("raw") ? ".raw" : ".qcow2"));
      switch (kind) {
        case "raw" -> PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", p.toString(), "1M");
        case "datafile" -> PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o",
            "data_file=" + dir.resolve(name + ".data"), p.toString(), "1M");
        default -> {
          PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", p.toString(), "1M");
          PeerTools.check(dir, "qemu-img", "snapshot", "-c", "s", p.toString());
          // refcount1: refcounts of 1 bit cannot count a second reference, so a snapshot of data fails (-22 in QEMU).
          if (kind.equals("refcount1")) {
            PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", p.toString(), "1M");
            PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write 0 64k", p.toString());
          }
          if (kind.equals("bitmap")) {
            PeerTools.check(dir, "qemu-img", "bitmap", "--add", p.toString(), "b");
          }
        }
      }
      images.add(p);
    }
    byte[] before = Files.readAllBytes(images.get(0));
    List<String> vcmd = new ArrayList<>(List.of("snapshot"));
    vcmd.addAll(words);
    vcmd.add(images.get(0).toString());
    List<String> qcmd = new ArrayList<>(List.of("qemu-img", "snapshot"));
    qcmd.addAll(words);
    qcmd.add(images.get(1).toString());
    Vdisk.Result v = Vdisk.run(vcmd.toArray(String[]::new));
    PeerTools.Result q = PeerTools.run(dir, qcmd.toArray(String[]::new));
    assertThat(v.exit()).as(step + ": " + v.err()).isEqualTo(q.exit()).isEqualTo(1);
    assertThat(message(v.err(), "vdisk snapshot: ", images.get(0))).as(step)
        .isEqualTo(message(q.err(), "qemu-img: ", images.get(1)));
    assertThat(Files.readAllBytes(images.get(0))).as(step + " leaves the file alone").isEqualTo(before);
  }

  /** A snapshot of an image another process writes is refused (QEMU's write lock), the image untouched. */
  @Test
  void lockedImageIsRefused() throws Exception {
    Path img = dir.resolve("locked.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "1M");
    byte[] before = Files.readAllBytes(img);
    Process holder = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "sleep 20000", img.toString())
        .redirectErrorStream(true).start();
    try {
      Thread.sleep(1500);
      for (String action : List.of("-c", "-a", "-d")) {
        Vdisk.Result v = Vdisk.run("snapshot", action, "s", img.toString());
        PeerTools.Result q = PeerTools.run(dir, "qemu-img", "snapshot", action, "s", img.toString());
        assertThat(v.exit()).as(action + ": " + v.err()).isEqualTo(q.exit()).isEqualTo(1);
        assertThat(v.errLines()).hasSize(1);
        assertThat(v.err()).contains("lock");
      }
    } finally {
      holder.destroy();
      holder.waitFor();
    }
    assertThat(Files.readAllBytes(img)).isEqualTo(before);
  }

  /** {@code vdisk convert -l} refuses what {@code qemu-img convert -l} refuses, with its message and exit code. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"nope", "snapshot.id=9", "snapshot.foo=1", "raw s"})
  void convertOfAMissingSnapshotAsQemuImg(String step) throws Exception {
    boolean raw = step.startsWith("raw ");
    String spec = raw ? step.substring(4) : step;
    Path img = dir.resolve(raw ? "c.raw" : "c.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", raw ? "raw" : "qcow2", img.toString(), "1M");
    if (!raw) {
      PeerTools.check(dir, "qemu-img", "snapshot", "-c", "s", img.toString());
    }
    PeerTools.Result q = PeerTools.run(dir, "qemu-img", "convert", "-l", spec, "-O", "raw", img.toString(),
        dir.resolve("q.raw").toString());
    Vdisk.Result v = Vdisk.run("convert", "-l", spec, "-O", "raw", img.toString(), dir.resolve("v.raw").toString());
    assertThat(v.exit()).as(step + ": " + v.err()).isEqualTo(q.exit()).isEqualTo(1);
    assertThat(v.errLines()).hasSize(1);
    assertThat(v.err().replace("vdisk convert: ", "")).as(step)
        .startsWith(q.err().lines().filter(l -> l.startsWith("qemu-img: ")).findFirst().orElseThrow()
            .replace("qemu-img: ", ""));
    assertThat(dir.resolve("v.raw")).doesNotExist();
  }

  /** The error without the program's prefix and QEMU's raw-probing warning, the image's name made neutral. */
  private static String message(String err, String prefix, Path image) {
    return err.lines().filter(l -> l.startsWith(prefix)).map(l -> l.substring(prefix.length()))
        .reduce((a, b) -> a + " " + b).orElse(err).replace(image.toString(), "IMG").replace(image.getFileName().toString(), "IMG");
  }
}
