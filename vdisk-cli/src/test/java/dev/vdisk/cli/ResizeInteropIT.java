package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk resize} against qemu-img resize: qcow2 images vdisk grew or shrank checked and mapped by qemu-img; raw
 * and qcow2 images grown with {@code --preallocation} compared byte for byte and block for block.
 */
class ResizeInteropIT {
  @TempDir Path dir;

  private String img(String... args) throws IOException, InterruptedException {
    String[] cmd = new String[args.length + 1];
    cmd[0] = "qemu-img";
    System.arraycopy(args, 0, cmd, 1, args.length);
    return PeerTools.check(dir, cmd);
  }

  /** Growth past what the L1 table maps moves the table; the data before and after stays readable. */
  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=512", "cluster_size=65536", "compat=0.10,cluster_size=4096"})
  void growingQcow2StaysCleanAndKeepsData(String options) throws IOException, InterruptedException {
    img("create", "-q", "-f", "qcow2", "-o", options, "g.qcow2", "1M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "g.qcow2");
    String file = dir.resolve("g.qcow2").toString();
    Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", file, "+3G");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Image resized.\n");
    assertThat(img("info", "--output=json", "g.qcow2")).contains("\"virtual-size\": " + ((3L << 30) + (1 << 20)));
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 3G 64k", "g.qcow2");
    String reads = PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "read -P 0x11 0 1M", "-c", "read -P 0 1M 1M",
        "-c", "read -P 0x22 3G 64k", "g.qcow2");
    assertThat(reads).doesNotContain("Pattern verification failed");
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "g.qcow2");
    assertThat(check.exit()).as(check.out() + check.err()).isZero();
  }

  @Test
  void rawGrowsAndShrinksLikeQemuImg() throws IOException, InterruptedException {
    img("create", "-q", "-f", "raw", "a.raw", "1M");
    img("create", "-q", "-f", "raw", "b.raw", "1M");
    String a = dir.resolve("a.raw").toString();
    for (String[] step : new String[][] {{"+1M"}, {"--shrink", "-512K"}, {"3M"}}) {
      String[] ours = step.length == 2 ? new String[] {"resize", "-f", "raw", step[0], a, step[1]}
          : new String[] {"resize", "-f", "raw", a, step[0]};
      assertThat(Vdisk.run(ours).exit()).isZero();
      if (step.length == 2) {
        img("resize", "-f", "raw", step[0], "b.raw", step[1]);
      } else {
        img("resize", "-f", "raw", "b.raw", step[0]);
      }
      assertThat(Files.size(dir.resolve("a.raw"))).isEqualTo(Files.size(dir.resolve("b.raw")));
    }
  }

  /** A raw image grown with --preallocation holds the same bytes and blocks as qemu-img's (data before it kept). */
  @ParameterizedTest
  @ValueSource(strings = {"falloc", "full"})
  void rawGrowsPreallocatedLikeQemuImg(String mode) throws IOException, InterruptedException {
    for (String name : List.of("a.raw", "b.raw")) {
      img("create", "-q", "-f", "raw", name, "1M");
      PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x11 0 64k", name);
    }
    Vdisk.Result r = Vdisk.run("resize", "-f", "raw", "--preallocation=" + mode, dir.resolve("a.raw").toString(), "+3M");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Image resized.\n");
    img("resize", "-f", "raw", "--preallocation=" + mode, "b.raw", "+3M");
    assertThat(Files.mismatch(dir.resolve("a.raw"), dir.resolve("b.raw"))).isEqualTo(-1);
    assertThat(blocks("a.raw")).isEqualTo(blocks("b.raw")).isGreaterThanOrEqualTo(3L << 20);
  }

  /**
   * {@code vdisk resize --preallocation} of a qcow2 image against qemu-img's on copies of one image: the same {@code
   * qemu-img map} (host offsets included) and {@code info}, the same guest data, both clean, host files (and data
   * files) of the same size and the same blocks, and, where {@code identical}, the same bytes. The layouts: 64 KiB,
   * 512-byte and 2 MiB clusters, extended L2 entries (a partial old cluster with subclusters), version 2, external
   * data files (raw too), an old size inside a cluster whose data the growth copies, growth that needs a larger L1
   * table and new refcount blocks and table. Not identical: after a growth that moved the refcount table, the old
   * table's cluster, free in both, still holds the entries QEMU wrote to it before it moved, where vdisk's holds
   * the entries it had when the image was opened (vdisk writes the table back only once, to its new place). With
   * a raw data file even {@code off} preallocates the metadata, and the data file keeps the copy-on-write zeroes
   * that take it to the end of the last cluster (vdisk cut it back to the size before). A larger L1 table is
   * written as far as its entries go (vdisk wrote its whole cluster before: a longer file after an off growth).
   * The 5 GiB metadata growth (QEMU's 2 GiB steps, refcount blocks placed among the data) is not read whole.
   */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "metadata|cluster_size=65536|1M|write -P 0x11 0 100k|+3M|true",
      "metadata|cluster_size=65536|102400|write -P 0x11 0 80k|300k|true",
      "metadata|cluster_size=512|64k|write -P 0x11 0 10k|+3M|true",
      "metadata|cluster_size=512|64k||+40M|false",
      "metadata|cluster_size=2097152|3M|write -P 0x11 1M 100k|+5M|true",
      "metadata|extended_l2=on|1049600|write -P 0x11 1M 512|+3M|true",
      "metadata|extended_l2=on,cluster_size=524288|1M|write -P 0x11 0 9k|1500k|true",
      "metadata|compat=0.10|1M|write -P 0x11 0 100k|+3M|true",
      "metadata|data_file=DATA|1049600|write -P 0x11 0 100k|+3M|true",
      "metadata|data_file=DATA,data_file_raw=on|1M|write -P 0x11 0 100k|3146240|true",
      "falloc|cluster_size=65536|1M|write -P 0x11 0 100k|+3M|true",
      "falloc|cluster_size=65536|102400|write -P 0x11 0 80k|300k|true",
      "falloc|cluster_size=512|64k|write -P 0x11 0 10k|+3M|true",
      "falloc|cluster_size=512|64k||+40M|true",
      "falloc|cluster_size=2097152|3M|write -P 0x11 1M 100k|+5M|true",
      "falloc|extended_l2=on|1049600|write -P 0x11 1M 512|+3M|true",
      "falloc|compat=0.10|1M|write -P 0x11 0 100k|+3M|true",
      "falloc|data_file=DATA|1049600|write -P 0x11 0 100k|+3M|true",
      "full|cluster_size=65536|102400|write -P 0x11 0 80k|300k|true",
      "full|cluster_size=512|64k|write -P 0x11 0 10k|+3M|true",
      "full|extended_l2=on,cluster_size=524288|1M|write -P 0x11 0 9k|1500k|true",
      "full|data_file=DATA,data_file_raw=on|1M|write -P 0x11 0 100k|3146240|true",
      "metadata|cluster_size=65536|64k|write -P 0x11 0 64k|+5G|false",
      "off|cluster_size=65536|64k|write -P 0x11 0 64k|+5G|true",
      "off|compat=0.10,cluster_size=4096|1M|write -P 0x11 0 1M|+3G|true",
      "off|data_file=DATA,data_file_raw=on|1M|write -P 0x11 0 100k|1049088|true",
      "off|data_file=DATA,data_file_raw=on,extended_l2=on|1M|write -P 0x11 0 100k|1049088|true"})
  void growingQcow2PreallocatedMatchesQemuImg(String mode, String options, String oldSize, String write, String size,
      boolean identical) throws IOException, InterruptedException {
    for (String name : List.of("ours", "theirs")) {
      // DATA: NAME.data's absolute name (a relative one is relative to the current directory, not the test's for vdisk).
      img("create", "-q", "-f", "qcow2", "-o", options.replace("DATA", dir.resolve(name + ".data").toString()), name + ".qcow2", oldSize);
      if (write != null) {
        PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", write, name + ".qcow2");
      }
    }
    Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", "--preallocation=" + mode, dir.resolve("ours.qcow2").toString(),
        size);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Image resized.\n");
    img("resize", "-q", "-f", "qcow2", "--preallocation=" + mode, "theirs.qcow2", size);
    assertSame(mode + " to " + size, options);
    List<String> files = new ArrayList<>(List.of(".qcow2"));
    if (options.contains("data_file")) {
      files.add(".data");
    }
    for (String suffix : files) {
      // Within one 4 KiB file system block: ext4 counts one more or less now and then for the same writes.
      assertThat(blocks("ours" + suffix)).as(mode + ": blocks of " + suffix).isCloseTo(blocks("theirs" + suffix),
          within(4096L));
      if (identical) {
        // The header cluster (64 KiB in these rows) names the data file: ours.data, theirs.data.
        int from = suffix.equals(".qcow2") && options.contains("data_file") ? 1 << 16 : 0;
        byte[] ours = Files.readAllBytes(dir.resolve("ours" + suffix));
        byte[] theirs = Files.readAllBytes(dir.resolve("theirs" + suffix));
        assertThat(Arrays.mismatch(ours, from, ours.length, theirs, from, theirs.length))
            .as(mode + ": first byte that differs in " + suffix + " from " + from).isEqualTo(-1);
      }
    }
  }

  /**
   * A preallocated growth of an overlay over a longer backing file: the grown range reads as zeroes, not as the
   * backing file, with qemu-img's map (metadata: zero clusters over the new ones; falloc/full: the file grown with
   * zeroes, so with extended L2 entries the new subclusters are allocated instead, and a version 2 image, which
   * has no zero clusters and refuses an off or metadata growth there, grows).
   */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"metadata|extended_l2=off", "metadata|extended_l2=on", "falloc|extended_l2=off",
      "falloc|extended_l2=on", "full|extended_l2=on", "falloc|compat=0.10", "full|compat=0.10"})
  void growingPreallocatedOverALongerBackingFileZeroesTheNewRangeLikeQemuImg(String mode, String options)
      throws IOException, InterruptedException {
    img("create", "-q", "-f", "qcow2", "base.qcow2", "4M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 4M", "base.qcow2");
    for (String name : List.of("ours", "theirs")) {
      img("create", "-q", "-f", "qcow2", "-o", options, "-b", "base.qcow2", "-F", "qcow2",
          name + ".qcow2", "1M");
      PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 100k", name + ".qcow2");
    }
    Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", "--preallocation=" + mode, dir.resolve("ours.qcow2").toString(),
        "3M");
    assertThat(r.exit()).as(r.err()).isZero();
    img("resize", "-q", "-f", "qcow2", "--preallocation=" + mode, "theirs.qcow2", "3M");
    assertGrownLikeQemu(mode + ", " + options, 1 << 20, 3 << 20);
  }

  /** qemu-img's refusals, with its messages, and the image untouched. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "raw|--preallocation=metadata|+1M|Unsupported preallocation mode: metadata",
      "raw|--preallocation=bogus|+1M|Invalid preallocation mode 'bogus'",
      "raw|--preallocation=falloc --shrink|-512K|Preallocation can only be used for growing images",
      "qcow2|--preallocation=falloc --shrink|-512K|Preallocation can only be used for growing images",
      "qcow2|--preallocation=bogus|+1M|Invalid preallocation mode 'bogus'"})
  void preallocatedResizesRefused(String format, String options, String size, String message)
      throws IOException, InterruptedException {
    img("create", "-q", "-f", format, "x." + format, "1M");
    Path file = dir.resolve("x." + format);
    byte[] before = Files.readAllBytes(file);
    List<String> args = new ArrayList<>(List.of("resize", "-f", format));
    args.addAll(List.of(options.split(" ")));
    args.addAll(List.of(file.toString(), size));
    Vdisk.Result r = Vdisk.run(args.toArray(String[]::new));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().startsWith("vdisk resize: ").contains(message);
    assertThat(Files.readAllBytes(file)).isEqualTo(before);
  }

  private long blocks(String name) throws IOException, InterruptedException {
    return Long.parseLong(PeerTools.check(dir, "stat", "-c", "%b", name).strip()) * 512;
  }

  @Test
  void shrinkingNeedsShrinkAndVersion2SnapshotsBlockIt() throws IOException, InterruptedException {
    img("create", "-q", "-f", "raw", "a.raw", "1M");
    Vdisk.Result r = Vdisk.run("resize", "-f", "raw", dir.resolve("a.raw").toString(), "-512K");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().contains("expected: --shrink");
    assertThat(Files.size(dir.resolve("a.raw"))).isEqualTo(1 << 20);
    img("create", "-q", "-f", "qcow2", "q.qcow2", "1M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "q.qcow2");
    byte[] before = Files.readAllBytes(dir.resolve("q.qcow2"));
    r = Vdisk.run("resize", "-f", "qcow2", dir.resolve("q.qcow2").toString(), "512K");
    assertThat(r.exit()).as("exit code, as qemu-img's").isEqualTo(PeerTools.run(dir, "qemu-img", "resize", "q.qcow2", "512K").exit());
    assertThat(r.errLines()).singleElement().asString().contains("--shrink to perform a shrink operation");
    r = Vdisk.run("resize", "-f", "qcow2", "--shrink", dir.resolve("q.qcow2").toString(), "524289");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().contains("a multiple of 512");
    assertThat(Files.readAllBytes(dir.resolve("q.qcow2"))).as("refused resizes leave the image alone").isEqualTo(before);
    // QEMU 7.2 resizes version 3 images with snapshots (SnapshotInteropIT), not version 2 ones.
    img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "1M");
    img("snapshot", "-c", "s1", "v2.qcow2");
    byte[] v2 = Files.readAllBytes(dir.resolve("v2.qcow2"));
    r = Vdisk.run("resize", "-f", "qcow2", "--shrink", dir.resolve("v2.qcow2").toString(), "512K");
    PeerTools.Result q = PeerTools.run(dir, "qemu-img", "resize", "--shrink", "v2.qcow2", "512K");
    assertThat(r.exit()).isEqualTo(q.exit()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().endsWith(q.err().strip().substring("qemu-img: ".length()));
    assertThat(Files.readAllBytes(dir.resolve("v2.qcow2"))).isEqualTo(v2);
  }

  /**
   * {@code vdisk resize --shrink} against {@code qemu-img resize --shrink} on copies of one image: the same virtual
   * size, the same {@code qemu-img map} (host offsets included) and {@code info}, the same guest data, both clean by
   * {@code qemu-img check}, host files (and external data files) of the same size; then both grow again and what
   * was cut reads as zeroes.
   */
  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=4096", "cluster_size=65536", "cluster_size=512,refcount_bits=1",
      "extended_l2=on", "compat=0.10,cluster_size=16384", "data_file=DATA", "data_file=DATA,data_file_raw=on",
      "data_file=DATA,data_file_raw=on,extended_l2=on", "cluster_size=4096,lazy_refcounts=on"})
  void shrinkingQcow2MatchesQemuImg(String options) throws IOException, InterruptedException {
    for (String name : List.of("ours", "theirs")) {
      // DATA: NAME.data's absolute name (a relative one is relative to the current directory, not the test's for vdisk).
      img("create", "-q", "-f", "qcow2", "-o", options.replace("DATA", dir.resolve(name + ".data").toString()), name + ".qcow2", "64M");
      PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 20M", "-c", "write -P 0x22 24M 9M",
          "-c", "write -z 40M 1M", "-c", "write -P 0x33 50M 10M", "-c", "write -P 0x44 63M 1M", name + ".qcow2");
    }
    for (String size : List.of("30M", "29999616", "25M", "8M")) {
      Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", "--shrink", dir.resolve("ours.qcow2").toString(), size);
      assertThat(r.exit()).as(r.err()).isZero();
      img("resize", "-q", "-f", "qcow2", "--shrink", "theirs.qcow2", size);
      assertSame("after --shrink to " + size, options);
    }
    Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", dir.resolve("ours.qcow2").toString(), "64M");
    assertThat(r.exit()).as(r.err()).isZero();
    img("resize", "-q", "-f", "qcow2", "theirs.qcow2", "64M");
    assertSame("grown again", options);
    String reads = PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "read -P 0x11 0 8M", "-c", "read -P 0 8M 56M",
        "ours.qcow2");
    assertThat(reads).doesNotContain("Pattern verification failed");
  }

  /**
   * QEMU's iotest 292 and issue 13's fault 2: growing an overlay whose backing file is longer than its old size
   * zeroes the grown range (zero clusters, explicit zeroes for the partial (sub)cluster at the old end), so the
   * backing file's bytes there do not show; also after a shrink and a regrow. vdisk and qemu-img resize two
   * overlays of one base alike: same exit code, same {@code qemu-img map} (host offsets included), the same guest
   * bytes, zeroes where the overlay grew, and {@code vdisk compare} sees the overlay differ from its base. A
   * version 2 overlay cannot hold zero clusters: both refuse, and vdisk leaves the file untouched.
   */
  @ParameterizedTest
  @CsvSource({"cluster_size=65536, 524288", "cluster_size=65536, 300032", "cluster_size=4096, 300032",
      "extended_l2=on, 300032", "compat=0.10, 524288", "compat=0.10, 1024000"})
  void growingOverALongerBackingFileZeroesTheNewRangeLikeQemuImg(String options, long oldSize)
      throws IOException, InterruptedException {
    img("create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "base.qcow2");
    for (String name : List.of("ours", "theirs")) {
      img("create", "-q", "-f", "qcow2", "-o", options, "-b", "base.qcow2", "-F", "qcow2", name + ".qcow2", Long.toString(oldSize));
    }
    String ours = dir.resolve("ours.qcow2").toString();
    byte[] before = Files.readAllBytes(dir.resolve("ours.qcow2"));
    Vdisk.Result r = Vdisk.run("resize", "-f", "qcow2", ours, "1M");
    PeerTools.Result theirs = PeerTools.run(dir, "qemu-img", "resize", "-f", "qcow2", "theirs.qcow2", "1M");
    assertThat(r.exit()).as("exit code as qemu-img's: " + r.err() + " / " + theirs.err()).isEqualTo(theirs.exit());
    if (theirs.exit() != 0) {
      assertThat(r.errLines()).singleElement().asString().contains("Failed to zero out new clusters");
      assertThat(Files.readAllBytes(dir.resolve("ours.qcow2"))).as("a refused resize leaves the image alone")
          .isEqualTo(before);
      return;
    }
    assertGrownLikeQemu("grown from " + oldSize, oldSize, 1 << 20);
    Vdisk.Result cmp = Vdisk.run("compare", "-f", "qcow2", "-F", "qcow2", ours, dir.resolve("base.qcow2").toString());
    assertThat(cmp.exit()).as("vdisk compare overlay base: " + cmp.out() + cmp.err()).isEqualTo(1);
    // iotest 292: data in the overlay, shrunk and grown inside one cluster; stale bytes past the cut must not show.
    for (String name : List.of("ours", "theirs")) {
      PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 1M", name + ".qcow2");
    }
    assertThat(Vdisk.run("resize", "-f", "qcow2", "--shrink", ours, "520K").exit()).isZero();
    img("resize", "-q", "-f", "qcow2", "--shrink", "theirs.qcow2", "520K");
    assertThat(Vdisk.run("resize", "-f", "qcow2", ours, "567K").exit()).isZero();
    img("resize", "-q", "-f", "qcow2", "theirs.qcow2", "567K");
    assertGrownLikeQemu("shrunk to 520K and grown to 567K", 520 << 10, 567 << 10);
  }

  /** Both overlays map alike, read alike, are clean, and read as zeroes from {@code oldSize} to {@code size}. */
  private void assertGrownLikeQemu(String when, long oldSize, long size) throws IOException, InterruptedException {
    assertThat(img("map", "--output=json", "ours.qcow2")).as(when + ": qemu-img map")
        .isEqualTo(img("map", "--output=json", "theirs.qcow2"));
    PeerTools.Result cmp = PeerTools.run(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", "ours.qcow2", "theirs.qcow2");
    assertThat(cmp.exit()).as(when + ": qemu-img compare " + cmp.out() + cmp.err()).isZero();
    String reads = PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "read -P 0 " + oldSize + " " + (size - oldSize),
        "ours.qcow2");
    assertThat(reads).as(when + ": the grown range reads as zeroes").doesNotContain("Pattern verification failed");
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "ours.qcow2");
    assertThat(check.exit()).as(when + ": qemu-img check " + check.out() + check.err()).isZero();
  }

  private void assertSame(String when, String options) throws IOException, InterruptedException {
    assertThat(img("map", "--output=json", "ours.qcow2")).as(when + ": qemu-img map")
        .isEqualTo(img("map", "--output=json", "theirs.qcow2"));
    assertThat(info("ours")).as(when + ": qemu-img info").isEqualTo(info("theirs"));
    PeerTools.Result cmp = PeerTools.run(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", "ours.qcow2", "theirs.qcow2");
    assertThat(cmp.exit()).as(when + ": qemu-img compare " + cmp.out() + cmp.err()).isZero();
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", "ours.qcow2");
    assertThat(check.exit()).as(when + ": qemu-img check " + check.out() + check.err()).isZero();
    assertThat(Files.size(dir.resolve("ours.qcow2"))).as(when + ": host file size")
        .isEqualTo(Files.size(dir.resolve("theirs.qcow2")));
    if (options.contains("data_file")) {
      assertThat(Files.size(dir.resolve("ours.data"))).as(when + ": data file size")
          .isEqualTo(Files.size(dir.resolve("theirs.data")));
    }
  }

  /** qemu-img info's JSON without what names the files or measures the host's allocation. */
  private String info(String name) throws IOException, InterruptedException {
    return img("info", "--output=json", name + ".qcow2").replace(name, "NAME").replaceAll("\"(actual-size|disk-size)\": \\d+", "");
  }
}
