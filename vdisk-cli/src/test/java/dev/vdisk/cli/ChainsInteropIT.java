package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code vdisk rebase}, {@code vdisk commit} and {@code vdisk convert -B} against qemu-img 7.2: the same chain (six
 * of them, below) is built twice by qemu-img and qemu-io (files {@code q*} and {@code v*}), qemu-img runs the
 * operation on one and vdisk on the other: the same exit code and standard output, and for every image of both
 * chains (and the converted output) the same guest-visible data ({@code qemu-img compare}), the same allocation
 * ({@code qemu-img map --output=json} without host offsets, adjacent ranges merged: QEMU's commit job allocates in
 * parallel, so its host offsets are not deterministic), the same backing file in {@code qemu-img info}, and a clean
 * {@code qemu-img check} (no leaks). Bad input gets qemu-img's exit code and message, and leaves the files as they were.
 */
class ChainsInteropIT {
  private static final Pattern RANGE = Pattern.compile(
      "\"start\": (\\d+), \"length\": (\\d+), \"depth\": (\\d+), \"present\": (\\w+), \"zero\": (\\w+), \"data\": (\\w+)");

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  /**
   * Chains, bottom first: each layer is {@code name fmt size [-o options] : qemu-io command; ...}. The top layer is
   * named top; {@code new} is an image beside the chain for rebase to move onto.
   */
  private static final Map<String, List<String>> CHAINS = Map.of(
      "qcow2 over qcow2", List.of(
          "base qcow2 64M : write -P 1 0 4M; write -P 5 8M 1M; write -P 6 30M 2M",
          "top qcow2 64M : write -P 2 512k 4k; write -z 1M 64k; discard 8M 64k; write -P 7 20M 3M; write -P 9 63M 1M; write -z 31M 4k"),
      "qcow2 over raw", List.of(
          "base raw 64M : write -P 1 0 4M; write -P 5 8M 1M",
          "top qcow2 64M : write -P 2 512k 4k; write -z 1M 64k; discard 8M 64k; write -P 7 20M 3M; write -z 40M 128k"),
      "backing shorter than the overlay", List.of(
          "base qcow2 32M : write -P 1 0 32M",
          "top qcow2 64M : write -P 2 30M 4M; write -z 1M 64k; write -P 3 50M 1000"),
      "3 deep", List.of(
          "base qcow2 64M : write -P 1 0 1M; write -P 8 12M 2M",
          "mid qcow2 64M : write -P 3 2M 64k; write -P 4 40M 100k; write -z 12M 1M",
          "top qcow2 64M : write -P 2 512k 4k; write -z 3M 64k; discard 2M 64k; write -P 7 10M 3M"),
      "sizes off the chunk grid", List.of(
          "base raw 5000k : write -P 1 0 4000k; write -P 6 4500k 500k",
          "top qcow2 10000k : write -P 2 9000k 1000k; write -z 100k 4k; write -P 3 4990k 20k"),
      "3 deep over raw, 4k clusters", List.of(
          "base raw 32M : write -P 1 0 8M",
          "mid qcow2 32M -o cluster_size=4096 : write -P 3 1M 12k; write -z 6M 64k",
          "top qcow2 32M -o cluster_size=65536 : write -P 2 100k 3k; discard 0 64k; write -P 4 7M 2M"));

  static Stream<Arguments> operations() {
    List<Arguments> all = new ArrayList<>();
    for (String chain : CHAINS.keySet()) {
      boolean deep = CHAINS.get(chain).size() == 3;
      all.add(Arguments.of(chain, "rebase -b new.qcow2 -F qcow2 TOP", "new qcow2 16M : write -P 1 0 2M; write -P 9 3M 1M"));
      all.add(Arguments.of(chain, "rebase -p -b new.qcow2 -F qcow2 TOP", "new qcow2 96M : write -P 1 0 40M; write -z 1M 1M"));
      all.add(Arguments.of(chain, "rebase -b  TOP", ""));
      all.add(Arguments.of(chain, "rebase -u -b new.qcow2 -F qcow2 TOP", "new qcow2 64M : write 0 1M"));
      all.add(Arguments.of(chain, "commit TOP", ""));
      all.add(Arguments.of(chain, "commit -d TOP", ""));
      all.add(Arguments.of(chain, "convert -O qcow2 -B new.qcow2 -F qcow2 TOP OUT", "new qcow2 64M : write -P 1 0 4M"));
      if (deep) {
        all.add(Arguments.of(chain, "rebase -b base.qcow2 -F " + (chain.contains("raw") ? "raw" : "qcow2") + " TOP", ""));
        all.add(Arguments.of(chain, "commit -b base.qcow2 TOP", ""));
        all.add(Arguments.of(chain, "commit -p -d MID", ""));
      }
    }
    return all.stream().map(a -> {
      Object[] v = a.get();
      String chain = (String) v[0];
      String op = ((String) v[1]).replace("base.qcow2", CHAINS.get(chain).getFirst().contains(" raw ") ? "base.raw" : "base.qcow2");
      return Arguments.of(chain, op, v[2]);
    });
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("operations")
  void sameOutcomeAsQemuImg(String chain, String op, String newImage) throws Exception {
    List<String> layers = new ArrayList<>(CHAINS.get(chain));
    List<String> files = new ArrayList<>();
    for (String prefix : List.of("q", "v")) {
      files = build(prefix, layers);
      if (!newImage.isEmpty()) {
        build(prefix, List.of(newImage));
      }
    }
    PeerTools.Result q = PeerTools.run(dir, command(List.of("qemu-img"), op, "q", false));
    Vdisk.Result v = Vdisk.run(command(List.of(), op, "v", true));
    assertThat(v.exit()).as("exit of %s: %s / qemu-img: %s", op, v.err(), q.err()).isEqualTo(q.exit());
    assertThat(q.exit()).as("qemu-img %s: %s", op, q.err()).isZero();
    // qemu-img draws -p's progress on stdout (ended by a line break), vdisk on stderr.
    String progress = " *\\(\\d+\\.\\d+/100%\\)\r";
    assertThat(v.out()).as("stdout of " + op).isEqualTo(q.out().replaceFirst("^(" + progress + ")+\n", ""));
    if (op.startsWith("convert")) {
      files.add("out.qcow2");
    }
    for (String file : files) {
      assertSame(file);
    }
  }

  /** Bad input: qemu-img's exit code and message, and the files unchanged. */
  static Stream<Arguments> badInput() {
    return Stream.of(
        Arguments.of("rebase TOP"),
        Arguments.of("rebase -b nope.qcow2 -F qcow2 TOP"),
        Arguments.of("rebase -b nope.qcow2 TOP"),
        Arguments.of("rebase -b base.qcow2 -F foo TOP"),
        Arguments.of("rebase -b base.qcow2 -F qcow2 TOP extra"),
        Arguments.of("rebase -t nonsense -b base.qcow2 -F qcow2 TOP"),
        Arguments.of("rebase -b base.qcow2 -F qcow2 nofile.qcow2"),
        Arguments.of("rebase -u -b base.qcow2 -F qcow2 -f raw BASE"),
        Arguments.of("commit BASE"),
        Arguments.of("commit -b nope.qcow2 TOP"),
        Arguments.of("commit -b top.qcow2 TOP"),
        Arguments.of("commit -b new.qcow2 TOP"),
        Arguments.of("commit -r 12x TOP"),
        Arguments.of("commit -t nonsense TOP"),
        Arguments.of("commit nofile.qcow2"),
        Arguments.of("convert -O qcow2 -B base.qcow2 TOP OUT"),
        Arguments.of("convert -O raw -B base.qcow2 -F qcow2 TOP OUT"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badInput")
  void badInputAsQemuImg(String op) throws Exception {
    for (String prefix : List.of("q", "v")) {
      build(prefix, CHAINS.get("qcow2 over qcow2"));
      build(prefix, List.of("new qcow2 64M : write 0 64k"));
    }
    byte[] top = Files.readAllBytes(dir.resolve("vtop.qcow2"));
    byte[] base = Files.readAllBytes(dir.resolve("vbase.qcow2"));
    PeerTools.Result q = PeerTools.run(dir, command(List.of("qemu-img"), op, "q", false));
    Vdisk.Result v = Vdisk.run(command(List.of(), op, "v", true));
    assertThat(v.exit()).as("exit of %s: %s", op, v.err()).isEqualTo(q.exit()).isEqualTo(1);
    assertThat(v.errLines()).as("one error line").hasSize(1);
    String ours = normalize(v.err().strip().replaceFirst("^vdisk \\w+: ", ""));
    String theirs = normalize(q.err().lines().filter(l -> !l.startsWith("Try ")).map(l -> l.replaceFirst("^qemu-img: ", ""))
        .reduce((a, b) -> a + " " + b).orElse(""));
    assertThat(ours).as("message of " + op).isEqualTo(theirs);
    assertThat(Files.readAllBytes(dir.resolve("vtop.qcow2"))).as("top unchanged").isEqualTo(top);
    assertThat(Files.readAllBytes(dir.resolve("vbase.qcow2"))).as("base unchanged").isEqualTo(base);
  }

  /** A commit into a base another process holds for writing, or only reads: refused as qemu-img refuses it. */
  @ParameterizedTest(name = "qemu-io {0}")
  @MethodSource("holders")
  void commitIntoAHeldBaseIsRefused(String holder, String expected) throws Exception {
    for (String prefix : List.of("q", "v")) {
      build(prefix, CHAINS.get("qcow2 over qcow2"));
    }
    byte[] top = Files.readAllBytes(dir.resolve("vtop.qcow2"));
    byte[] base = Files.readAllBytes(dir.resolve("vbase.qcow2"));
    List<Process> holders = new ArrayList<>();
    try {
      for (String prefix : List.of("q", "v")) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        if (!holder.isEmpty()) {
          cmd.add(holder);
        }
        cmd.addAll(List.of("-c", "sleep 60000", prefix + "base.qcow2"));
        holders.add(new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start());
      }
      waitForLock(dir.resolve("qbase.qcow2"));
      waitForLock(dir.resolve("vbase.qcow2"));
      PeerTools.Result q = PeerTools.run(dir, "qemu-img", "commit", "qtop.qcow2");
      Vdisk.Result v = Vdisk.run("commit", dir.resolve("vtop.qcow2").toString());
      assertThat(v.exit()).as(v.err()).isEqualTo(q.exit()).isEqualTo(1);
      assertThat(v.errLines()).hasSize(1);
      for (String phrase : List.of(expected, "Is another process using the image [")) {
        assertThat(q.err()).contains(phrase);
        assertThat(v.err()).contains(phrase);
      }
    } finally {
      holders.forEach(Process::destroyForcibly);
      for (Process p : holders) {
        p.waitFor();
      }
    }
    assertThat(Files.readAllBytes(dir.resolve("vtop.qcow2"))).as("top unchanged").isEqualTo(top);
    assertThat(Files.readAllBytes(dir.resolve("vbase.qcow2"))).as("base unchanged").isEqualTo(base);
  }

  /**
   * rebase -U opens the new backing image even while another process writes it (qemu-img's force-share applies to
   * the backing images; the image itself is written and never force-shared): refused without -U, done with it.
   */
  @Test
  void rebaseOntoAHeldBackingImageNeedsForceShare() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "held.qcow2", "1M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "top.qcow2", "1M");
    Process holder = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "sleep 60000", "held.qcow2")
        .directory(dir.toFile()).redirectErrorStream(true).start();
    try {
      waitForLock(dir.resolve("held.qcow2"));
      String top = dir.resolve("top.qcow2").toString();
      Vdisk.Result refused = Vdisk.run("rebase", "-b", "held.qcow2", "-F", "qcow2", top);
      assertThat(refused.exit()).isEqualTo(1);
      assertThat(refused.err()).contains("Failed to get shared \"write\" lock");
      Vdisk.Result forced = Vdisk.run("rebase", "-U", "-b", "held.qcow2", "-F", "qcow2", top);
      assertThat(forced.exit()).as(forced.err()).isZero();
    } finally {
      holder.destroyForcibly().waitFor();
    }
    assertThat(PeerTools.check(dir, "qemu-img", "info", "top.qcow2")).contains("backing file: held.qcow2");
  }

  /** rebase and commit name their image by QEMU options as qemu-img's --image-opts does. */
  @Test
  void rebaseAndCommitTakeImageOpts() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x61 0 64k", "top.qcow2");
    String opts = "driver=qcow2,file.filename=" + dir.resolve("top.qcow2");
    Vdisk.Result commit = Vdisk.run("commit", "-q", "-d", "--image-opts", opts);
    assertThat(commit.exit()).as(commit.err()).isZero();
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "read -P 0x61 0 64k", "base.qcow2"))
        .doesNotContain("Pattern verification failed");
    Vdisk.Result rebase = Vdisk.run("rebase", "-u", "-b", "", "--image-opts", opts);
    assertThat(rebase.exit()).as(rebase.err()).isZero();
    assertThat(PeerTools.check(dir, "qemu-img", "info", "top.qcow2")).doesNotContain("backing file");
  }

  static Stream<Arguments> holders() {
    return Stream.of(Arguments.of("", "Failed to get shared \"write\" lock"), Arguments.of("-r", "Failed to get \"write\" lock"));
  }

  /** A base the user may not write (immutable for root, read-only mode otherwise): refused, nothing changed. */
  @Test
  void commitIntoAReadOnlyBaseIsRefused() throws Exception {
    for (String prefix : List.of("q", "v")) {
      build(prefix, CHAINS.get("qcow2 over qcow2"));
    }
    byte[] top = Files.readAllBytes(dir.resolve("vtop.qcow2"));
    byte[] base = Files.readAllBytes(dir.resolve("vbase.qcow2"));
    boolean root = "root".equals(System.getProperty("user.name"));
    for (String prefix : List.of("q", "v")) {
      PeerTools.check(dir, root ? "chattr" : "chmod", root ? "+i" : "a-w", prefix + "base.qcow2");
    }
    try {
      PeerTools.Result q = PeerTools.run(dir, "qemu-img", "commit", "qtop.qcow2");
      Vdisk.Result v = Vdisk.run("commit", dir.resolve("vtop.qcow2").toString());
      assertThat(v.exit()).as(v.err()).isEqualTo(q.exit()).isEqualTo(1);
      assertThat(v.errLines()).hasSize(1);
      String errno = root ? "operation not permitted" : "permission denied";
      assertThat(q.err().toLowerCase()).contains(errno);
      assertThat(v.err().toLowerCase()).contains(errno).contains("vbase.qcow2");
    } finally {
      for (String prefix : List.of("q", "v")) {
        PeerTools.check(dir, root ? "chattr" : "chmod", root ? "-i" : "u+w", prefix + "base.qcow2");
      }
    }
    assertThat(Files.readAllBytes(dir.resolve("vtop.qcow2"))).as("top unchanged").isEqualTo(top);
    assertThat(Files.readAllBytes(dir.resolve("vbase.qcow2"))).as("base unchanged").isEqualTo(base);
  }

  /** Rebase onto a file that does not exist: refused in safe mode, recorded with -u, as qemu-img does. */
  @Test
  void rebaseOntoAMissingFileWorksOnlyWithU() throws Exception {
    for (String prefix : List.of("q", "v")) {
      build(prefix, CHAINS.get("qcow2 over qcow2"));
    }
    PeerTools.Result q = PeerTools.run(dir, "qemu-img", "rebase", "-u", "-b", "gone.qcow2", "-F", "qcow2", "qtop.qcow2");
    Vdisk.Result v = Vdisk.run("rebase", "-u", "-b", "gone.qcow2", "-F", "qcow2", dir.resolve("vtop.qcow2").toString());
    assertThat(v.exit()).as(v.err()).isEqualTo(q.exit()).isZero();
    assertThat(backing("vtop.qcow2")).isEqualTo(backing("qtop.qcow2")).contains("gone.qcow2");
    assertThat(PeerTools.run(dir, "qemu-img", "check", "vtop.qcow2").exit()).as("check of a missing backing file").isEqualTo(1);
  }

  /** The chain's files, top first ({@code prefix + name.fmt}), made by qemu-img and qemu-io. */
  private List<String> build(String prefix, List<String> layers) throws Exception {
    List<String> files = new ArrayList<>();
    String below = null;
    String belowFormat = null;
    for (String layer : layers) {
      String[] halves = layer.split(" : ", 2);
      String[] words = halves[0].split(" ");
      String file = prefix + words[0] + "." + words[1];
      List<String> create = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", words[1]));
      if (words.length > 3) {
        create.addAll(List.of(words[3], words[4]));
      }
      if (below != null && !words[0].equals("new")) {
        create.addAll(List.of("-b", below, "-F", belowFormat));
      }
      create.addAll(List.of(file, words[2]));
      PeerTools.check(dir, create.toArray(String[]::new));
      List<String> io = new ArrayList<>(List.of("qemu-io", "-f", words[1]));
      for (String c : halves[1].split("; ")) {
        io.addAll(List.of("-c", c));
      }
      io.add(file);
      PeerTools.check(dir, io.toArray(String[]::new));
      files.addFirst(file.substring(1));
      below = file;
      belowFormat = words[1];
    }
    return files;
  }

  /** {@code op} with TOP, MID, BASE and OUT filled for the files of {@code prefix}; absolute paths for vdisk. */
  private String[] command(List<String> head, String op, String prefix, boolean absolute) {
    List<String> cmd = new ArrayList<>(head);
    String[] words = op.split(" ", -1);
    for (int i = 0; i < words.length; i++) {
      String w = words[i];
      String file = switch (w) {
        case "TOP" -> prefix + "top.qcow2";
        case "MID" -> prefix + "mid.qcow2";
        case "BASE" -> prefix + "base.qcow2";
        case "OUT" -> prefix + "out.qcow2";
        case "nofile.qcow2" -> "nofile.qcow2";
        default -> null;
      };
      if (file != null) {
        cmd.add(absolute ? dir.resolve(file).toString() : file);
      } else if (w.isEmpty() && i > 0 && words[i - 1].equals("-b")) {
        cmd.add("");
      } else if (!w.isEmpty()) {
        // Names after -b stay relative: they are recorded as given and resolved against the image's directory.
        boolean named = i > 0 && (words[i - 1].equals("-b") || words[i - 1].equals("-B"));
        cmd.add(named && !w.equals("nope.qcow2") && !w.equals("gone.qcow2") ? prefix + w : w);
      }
    }
    return cmd.toArray(String[]::new);
  }

  /** The q and v copies of {@code file} (without prefix) read, map, name their backing file and check the same. */
  private void assertSame(String file) throws Exception {
    String q = "q" + file;
    String v = "v" + file;
    PeerTools.Result cmp = PeerTools.run(dir, "qemu-img", "compare", q, v);
    assertThat(cmp.exit()).as("qemu-img compare %s %s: %s%s", q, v, cmp.out(), cmp.err()).isZero();
    assertThat(ranges(v)).as("allocation of " + v).isEqualTo(ranges(q));
    assertThat(normalize(backing(v))).as("backing file of " + v).isEqualTo(normalize(backing(q)));
    if (file.endsWith(".qcow2")) {
      PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", v);
      assertThat(check.exit()).as("qemu-img check %s: %s%s", v, check.out(), check.err()).isZero();
    }
  }

  /**
   * qemu-img map's JSON without host offsets (and without the zero flag of data ranges), adjacent ranges of equal
   * status merged.
   */
  private List<String> ranges(String file) throws Exception {
    List<String> out = new ArrayList<>();
    long start = 0;
    long length = 0;
    String status = null;
    Matcher m = RANGE.matcher(PeerTools.check(dir, "qemu-img", "map", "--output=json", file));
    while (m.find()) {
      // Allocated data that reads as zeroes because the file has a hole there is data: vdisk leaves the untouched part
      // of a cluster it allocates past the end of the file unwritten, where QEMU writes zeroes.
      boolean data = Boolean.parseBoolean(m.group(6));
      String s = m.group(3) + " " + m.group(4) + " " + (data ? "data" : "zero=" + m.group(5));
      if (s.equals(status)) {
        length += Long.parseLong(m.group(2));
        continue;
      }
      if (status != null) {
        out.add(start + "+" + length + " " + status);
      }
      start = Long.parseLong(m.group(1));
      length = Long.parseLong(m.group(2));
      status = s;
    }
    out.add(start + "+" + length + " " + status);
    return out;
  }

  /** {@code text} with this test's folder left out and the files' q/v prefixes dropped. */
  private String normalize(String text) {
    return text.replace(dir + "/", "").replaceAll("\\b[qv](top|mid|base|new|out)\\.", "$1.");
  }

  private String backing(String file) throws Exception {
    return PeerTools.check(dir, "qemu-img", "info", "-U", file).lines().filter(l -> l.startsWith("backing file"))
        .reduce("", (a, b) -> a + b + "\n");
  }

  /** Waits until {@code file} carries a lock byte (the holder has opened it). */
  private static void waitForLock(Path file) throws Exception {
    long inode = (Long) Files.getAttribute(file, "unix:ino");
    for (int i = 0; i < 200; i++) {
      if (Files.readString(Path.of("/proc/locks")).contains(":" + inode + " ")) {
        return;
      }
      Thread.sleep(25);
    }
    throw new AssertionError(file + ": no lock after 5 s");
  }
}
