package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code vdisk amend} against {@code qemu-img amend} 7.2: each layout is made by qemu-img and qemu-io, copied, and
 * amended by both tools with the same {@code -o}. Both give the same exit code and message; after a success
 * {@code vdisk info --output=json} of vdisk's copy equals {@code qemu-img info --output=json} of qemu-img's (but for
 * the file name and the disk usage), {@code qemu-img check} finds vdisk's copy clean (no leaks, no errors), and the
 * guest sees the same data in the active layer as in qemu-img's result and as before ({@code qemu-img compare}), and
 * in every internal snapshot as before; after a refusal vdisk's copy is byte for byte the file it was (a dirty image
 * excepted: QEMU's open repairs it before looking at the options, and so does vdisk).
 */
class AmendInteropIT {
  /** The options most layouts are amended with. */
  private static final List<String> COMMON = List.of("compat=0.10", "compat=1.1", "lazy_refcounts=on",
      "lazy_refcounts=off", "refcount_bits=1", "refcount_bits=8", "refcount_bits=64",
      "refcount_bits=16,compat=0.10", "compat=v3,lazy_refcounts=on,refcount_bits=32");

  /** Bad input: the same message and exit from both, and the image untouched. */
  private static final List<String> BAD = List.of("foo=1", "cluster_size=4k", "compression_type=zstd",
      "compat=0.9", "refcount_bits=3", "refcount_bits=128", "refcount_bits=abc", "lazy_refcounts=maybe",
      "backing_file=other.qcow2", "backing_fmt=raw", "data_file=x.raw", "data_file_raw=on", "encrypt.state=active",
      "compat=0.10,lazy_refcounts=on", "compat=0.10,refcount_bits=8", "refcount_bits=8,backing_file=nope");

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  private static List<String> with(List<String> first, List<String> more) {
    List<String> all = new ArrayList<>(first);
    all.addAll(more);
    return all;
  }

  /**
   * Layout name, qemu-img create options, the qemu-io / qemu-img steps that fill it, and the -o cases; DATA stands
   * for the data file's absolute name (a relative one is relative to the current directory, which is not the test's
   * for vdisk in-process).
   */
  static Stream<Arguments> layouts() {
    List<String> all = with(COMMON, BAD);
    return Stream.of(
        Arguments.of("data, zero and compressed clusters", "compat=1.1",
            List.of("io write -P 1 0 1M", "io write -z 2M 1M", "io write -c -P 3 4M 64k"),
            with(all, List.of("size=128M", "size=32M,lazy_refcounts=on", "size=abc"))),
        Arguments.of("version 2", "compat=0.10",
            List.of("io write -P 5 0 3M", "io write -c -P 3 4M 64k"), with(all, List.of("compat=1.1,refcount_bits=4"))),
        Arguments.of("snapshots by qemu-img", "compat=1.1",
            List.of("io write -P 1 0 2M", "snapshot -c s1", "io write -z 0 1M", "io write -P 2 1M 64k", "snapshot -c s2",
                "io write -z 1M 1M", "io write -P 4 8M 64k"), with(COMMON, List.of("refcount_bits=1"))),
        Arguments.of("bitmaps by qemu-img", "compat=1.1",
            List.of("bitmap --add b1", "io write -P 1 0 1M", "bitmap --add -g 512 b2", "io write -z 1M 64k"), COMMON),
        Arguments.of("dirty lazy refcounts", "lazy_refcounts=on",
            List.of("io write -P 1 0 1M", "abort write -P 2 2M 1M"), List.of("compat=0.10", "lazy_refcounts=off",
                "refcount_bits=4", "foo=1", "compat=0.9")),
        Arguments.of("overlay with zero clusters", "compat=1.1,backing_file=base.qcow2,backing_fmt=qcow2",
            List.of("io write -z 0 256k", "io write -P 9 1M 64k"),
            with(COMMON, List.of("backing_file=base.qcow2,backing_fmt=qcow2", "backing_file=base.qcow2",
                "backing_fmt=qcow2", "backing_file=base.qcow2,backing_fmt=raw"))),
        Arguments.of("preallocated with zeroes", "preallocation=metadata,cluster_size=4096",
            List.of("io write -P 1 0 64k", "io write -z 16k 32k"), COMMON),
        // Not COMMON: qemu-img's own amend from 1-bit refcounts to another width takes 17-18 s (vdisk's 0.2 s), so two
        // widths (the widest, and 16 with the step down to version 2) stand for the four COMMON has.
        Arguments.of("refcount_bits=1", "refcount_bits=1", List.of("io write -P 1 0 1M"),
            List.of("compat=0.10", "compat=1.1", "lazy_refcounts=on", "lazy_refcounts=off", "refcount_bits=1",
                "refcount_bits=64", "refcount_bits=16,compat=0.10")),
        Arguments.of("refcount_bits=64 and 512-byte clusters", "refcount_bits=64,cluster_size=512",
            List.of("io write -P 1 0 300k", "io write -z 100k 20k"), COMMON),
        Arguments.of("2 MiB clusters", "cluster_size=2M", List.of("io write -P 1 0 3M"),
            List.of("compat=0.10", "lazy_refcounts=on")),
        Arguments.of("extended L2", "extended_l2=on", List.of("io write -P 1 0 100k"),
            List.of("compat=0.10", "lazy_refcounts=on", "refcount_bits=8")),
        Arguments.of("zstd with compressed clusters", "compression_type=zstd",
            List.of("io write -c -P 1 0 64k"), List.of("compat=0.10", "refcount_bits=2")),
        Arguments.of("zstd without compressed clusters", "compression_type=zstd",
            List.of("io write -P 1 0 64k"), List.of("compat=0.10")),
        Arguments.of("external data file", "data_file=DATA,data_file_raw=on",
            List.of("io write -P 1 0 64k"), List.of("compat=0.10", "data_file_raw=on", "data_file_raw=off",
                "data_file=DATA", "refcount_bits=8", "lazy_refcounts=on")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("layouts")
  void amendsAsQemuImg(String layout, String createOptions, List<String> steps, List<String> cases) throws Exception {
    Path original = dir.resolve("original.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "64M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 7 0 4M", dir.resolve("base.qcow2").toString());
    String data = dir.resolve("data.raw").toString();
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", createOptions.replace("DATA", data),
        original.toString(), "64M");
    for (String step : steps) {
      String[] words = step.split(" ", 2);
      switch (words[0]) {
        case "io" -> PeerTools.check(dir, "qemu-io", "-c", words[1], original.toString());
        case "abort" -> PeerTools.run(dir, "qemu-io", "-c", words[1], "-c", "abort", original.toString());
        default -> {
          // qemu-img snapshot takes the image last, qemu-img bitmap before the bitmap's name.
          List<String> cmd = new ArrayList<>(List.of("qemu-img"));
          cmd.addAll(List.of(step.split(" ")));
          cmd.add(words[0].equals("bitmap") ? cmd.size() - 1 : cmd.size(), original.toString());
          PeerTools.check(dir, cmd.toArray(String[]::new));
        }
      }
    }
    List<String> failures = new ArrayList<>();
    for (String options : cases) {
      failures.addAll(compare(layout, original, options.replace("DATA", data)));
    }
    assertThat(failures).as(layout).isEmpty();
  }

  @Test
  void helpListsQemuImgsAmendOptions() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "img.qcow2", "1M");
    String img = dir.resolve("img.qcow2").toString();
    for (List<String> args : List.of(List.of("-f", "qcow2", "-o", "help"), List.of("-o", "help", img),
        List.of("-o", "compat=1.1,help", img))) {
      PeerTools.Result theirs = qemuImgAmend(args);
      Vdisk.Result ours = vdiskAmend(args);
      assertThat(ours.out()).as("amend " + args).isEqualTo(theirs.out());
      assertThat(ours.exit()).isEqualTo(theirs.exit());
    }
  }

  @Test
  void commandLineErrorsAreQemuImgs() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "img.qcow2", "1M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "img.raw", "1M");
    String img = dir.resolve("img.qcow2").toString();
    String raw = dir.resolve("img.raw").toString();
    for (List<String> args : List.of(List.of(img), List.of("-o", "", img), List.of("-o", "compat=1.1"),
        List.of("-o", "compat=1.1", img, img), List.of("-t", "bogus", "-o", "compat=1.1", img),
        List.of("-f", "raw", "-o", "size=1M", raw), List.of("-o", "compat=1.1", dir.resolve("none.qcow2").toString()))) {
      byte[] before = Files.readAllBytes(dir.resolve("img.qcow2"));
      PeerTools.Result theirs = qemuImgAmend(args);
      Vdisk.Result ours = vdiskAmend(args);
      assertThat(ours.exit()).as("exit of amend " + args + ": " + ours.err()).isEqualTo(theirs.exit());
      assertThat(message(ours.err(), "vdisk amend: ")).as("message of amend " + args).isEqualTo(message(theirs.err(), "qemu-img: "));
      assertThat(Files.readAllBytes(dir.resolve("img.qcow2"))).isEqualTo(before);
    }
  }

  private PeerTools.Result qemuImgAmend(List<String> args) throws Exception {
    List<String> q = new ArrayList<>(List.of("qemu-img", "amend"));
    q.addAll(args);
    return PeerTools.run(dir, q.toArray(String[]::new));
  }

  private static Vdisk.Result vdiskAmend(List<String> args) {
    List<String> v = new ArrayList<>(List.of("amend"));
    v.addAll(args);
    return Vdisk.run(v.toArray(String[]::new));
  }

  /** Amends copies of {@code original} with both tools; returns what differs, one line per difference. */
  private List<String> compare(String layout, Path original, String options) throws Exception {
    Path theirs = dir.resolve("theirs.qcow2");
    Path ours = dir.resolve("ours.qcow2");
    Files.copy(original, theirs, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    Files.copy(original, ours, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    byte[] before = Files.readAllBytes(ours);
    PeerTools.Result q = PeerTools.run(dir, "qemu-img", "amend", "-o", options, theirs.toString());
    Vdisk.Result v = Vdisk.run("amend", "-o", options, ours.toString());
    List<String> out = new ArrayList<>();
    String what = layout + ", -o " + options + ": ";
    if (v.exit() != q.exit()) {
      out.add(what + "exit " + v.exit() + " (" + v.err().strip() + "), qemu-img " + q.exit() + " (" + q.err().strip() + ")");
      return out;
    }
    String vm = message(v.err(), "vdisk amend: ");
    String qm = message(q.err(), "qemu-img: ");
    if (!vm.equals(qm)) {
      out.add(what + "message '" + vm + "', qemu-img '" + qm + "'");
    }
    if (q.exit() != 0) {
      // QEMU's open repairs a dirty image before it looks at the options; so does vdisk.
      boolean dirty = PeerTools.check(dir, "qemu-img", "info", "--output=json", original.toString()).contains("\"dirty-flag\": true");
      if (dirty) {
        PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", ours.toString());
        if (check.exit() != 0) {
          out.add(what + "refused, but the dirty image was not repaired: " + check.out());
        }
      } else if (!java.util.Arrays.equals(Files.readAllBytes(ours), before)) {
        out.add(what + "refused, but the image changed");
      }
      return out;
    }
    String vinfo = info(Vdisk.run("info", "--output=json", ours.toString()).out());
    String qinfo = info(PeerTools.check(dir, "qemu-img", "info", "--output=json", theirs.toString()));
    if (!vinfo.equals(qinfo)) {
      out.add(what + "info\n" + vinfo + "\nqemu-img:\n" + qinfo);
    }
    PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", ours.toString());
    if (check.exit() != 0 || !check.out().contains("No errors were found on the image.")) {
      out.add(what + "qemu-img check: exit " + check.exit() + "\n" + check.out() + check.err());
    }
    PeerTools.Result same = PeerTools.run(dir, "qemu-img", "compare", theirs.toString(), ours.toString());
    if (same.exit() != 0) {
      out.add(what + "qemu-img compare: " + same.out() + same.err());
    }
    PeerTools.Result unchanged = PeerTools.run(dir, "qemu-img", "compare", original.toString(), ours.toString());
    if (unchanged.exit() != 0) {
      out.add(what + "guest data changed: " + unchanged.out() + unchanged.err());
    }
    // Against the original, not qemu-img's result: QEMU's downgrade zeroes clusters a snapshot still reads.
    for (String snapshot : snapshots(original)) {
      PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", "-l", "snapshot.name=" + snapshot, original.toString(), "t.raw");
      PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", "-l", "snapshot.name=" + snapshot, ours.toString(), "o.raw");
      if (!java.util.Arrays.equals(Files.readAllBytes(dir.resolve("t.raw")), Files.readAllBytes(dir.resolve("o.raw")))) {
        out.add(what + "snapshot " + snapshot + " reads differently");
      }
    }
    return out;
  }

  private List<String> snapshots(Path image) throws Exception {
    List<String> names = new ArrayList<>();
    for (String line : PeerTools.check(dir, "qemu-img", "snapshot", "-l", image.toString()).lines().toList()) {
      String[] f = line.trim().split("\\s+");
      if (f.length > 2 && f[0].matches("\\d+")) {
        names.add(f[1]);
      }
    }
    return names;
  }

  /** info JSON without the lines that name the file or its disk usage, which differ between the two copies. */
  private static String info(String json) {
    return json.lines().filter(l -> !l.contains("\"filename\"") && !l.contains("\"actual-size\""))
        .reduce("", (a, b) -> a + b + "\n");
  }

  /** The error's text without the program's prefix and qemu-img's "Try ..." line, as one line. */
  private static String message(String err, String prefix) {
    return err.lines().filter(l -> !l.startsWith("Try ") && !l.isBlank())
        .map(l -> l.startsWith(prefix) ? l.substring(prefix.length()) : l).reduce((a, b) -> a + " " + b).orElse("");
  }
}
