package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code vdisk bitmap} against {@code qemu-img bitmap}: the same steps (bitmap commands, and qemu-io writes between
 * them) on two copies of an image give the same exit code and message at every step, and in the end the same bitmaps
 * in {@code qemu-img info}, a clean {@code qemu-img check}, and the same dirty runs through {@code qemu-nbd -B}.
 * Steps {@code io CMD} run qemu-io on both copies, {@code abort CMD} too but end it without a close (bitmaps left
 * in use). {@code IMG} stands for the image, {@code SRC} for a second image with a bitmap {@code s}, {@code SMALL} for one
 * of another size.
 */
class BitmapCommandInteropIT {
  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    BitmapPeers.require();
  }

  static Stream<Arguments> cases() {
    return Stream.of(
        Arguments.of("cluster_size=65536", List.of("--add IMG b1", "io write 1M 64k", "--add -g 512 IMG b2",
            "io write 3M 1000", "--disable IMG b1", "io write -z 9M 128k", "--enable IMG b1", "--clear IMG b2",
            "io discard 20M 1M", "--add -g 2M --disable IMG b3")),
        Arguments.of("cluster_size=4096", List.of("--add IMG b1", "--add --disable IMG b2", "io write 5M 4k",
            "--merge b1 IMG b2", "--remove IMG b1", "io write 7M 4k")),
        Arguments.of("cluster_size=65536", List.of("--add IMG only", "io write 0 64k", "--remove IMG only",
            "--add -g 1M IMG again", "io write 40M 100")),
        Arguments.of("cluster_size=512", List.of("--add IMG small", "--add --merge s -b SRC IMG copy", "io write 1M 1k",
            "--merge s -b SRC -F qcow2 IMG small")),
        Arguments.of("cluster_size=2097152", List.of("--add IMG big", "io write 10M 4k", "--add -g 0 IMG zero")),
        Arguments.of("cluster_size=65536", List.of("--add IMG b1", "--add IMG b1", "--remove IMG nope",
            "--clear IMG nope", "--enable IMG nope", "--disable IMG nope", "--add -g 1000 IMG b2", "--add -g 256 IMG b2",
            "--add -g 4G IMG b2", "--add -g x IMG b2", "--add IMG ", "--merge nope IMG b1",
            "--merge s -b SMALL IMG b1", "--merge s -b SRC -F raw IMG b1", "--remove -g 64k IMG b1",
            "-F qcow2 --merge s IMG b1", "--add -b SRC IMG b9", "IMG b1", "--add IMG", "--add IMG b1 extra",
            "--add --remove IMG b9", "--add --add IMG b8", "--add --merge nope IMG b7", "io write 2M 64k")),
        Arguments.of("compat=0.10", List.of("--add IMG b1", "--remove IMG b1")),
        Arguments.of("cluster_size=65536", List.of("--add IMG b1", "--add IMG b2", "abort write 0 64k", "--add IMG b3",
            "--clear IMG b1", "--enable IMG b2", "--merge b1 IMG b3", "--merge b3 IMG b1", "--remove IMG b1",
            "io write 1M 64k")),
        Arguments.of("lazy_refcounts=on,extended_l2=on", List.of("--add IMG b1", "io write 0 1M", "--add IMG b2",
            "io write -z 1M 1M", "--merge b1 IMG b2", "--disable IMG b2")));
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("cases")
  void sameStepsGiveSameOutcomes(String options, List<String> steps) throws Exception {
    Path ours = image("ours.qcow2", options);
    Path theirs = image("theirs.qcow2", options);
    Path source = image("source.qcow2", "cluster_size=65536");
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", "-g", "128k", source.toString(), "s");
    PeerTools.check(dir, "qemu-io", "-c", "write 6M 300k", "-c", "write 50M 64k", source.toString());
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "small.qcow2", "32M");
    PeerTools.check(dir, "qemu-img", "bitmap", "--add", "small.qcow2", "s");
    for (String step : steps) {
      if (step.startsWith("io ") || step.startsWith("abort ")) {
        // "abort": qemu-io ends without closing the image, leaving its bitmaps in use (inconsistent).
        boolean abort = step.startsWith("abort ");
        for (Path p : List.of(ours, theirs)) {
          PeerTools.Result r = PeerTools.run(dir, "qemu-io", "-f", "qcow2", "-c", step.substring(step.indexOf(' ') + 1),
              "-c", abort ? "abort" : "flush", p.toString());
          assertThat(r.exit() != 0).as("qemu-io " + step + " aborted").isEqualTo(abort);
        }
        continue;
      }
      PeerTools.Result q = PeerTools.run(dir, command(List.of("qemu-img", "bitmap"), step, theirs, source));
      Vdisk.Result v = Vdisk.run(command(List.of("bitmap"), step, ours, source));
      assertThat(v.exit()).as("exit of bitmap " + step + ": " + v.err()).isEqualTo(q.exit());
      assertThat(v.errLines()).as("vdisk's error is one line").hasSizeLessThanOrEqualTo(1);
      assertThat(message(v.err(), "vdisk bitmap: ")).as("message of bitmap " + step)
          .isEqualTo(message(q.err(), "qemu-img: "));
    }
    if (!options.startsWith("compat=0.10")) {
      BitmapPeers.assertSame(dir, ours, theirs);
    }
  }

  private Path image(String name, String options) throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options, name, "64M");
    return dir.resolve(name);
  }

  /** {@code step} with its placeholders filled, after {@code head}. */
  private String[] command(List<String> head, String step, Path image, Path source) {
    List<String> cmd = new ArrayList<>(head);
    for (String word : step.split(" ", -1)) {
      cmd.add(switch (word) {
        case "IMG" -> image.toString();
        case "SRC" -> source.toString();
        case "SMALL" -> dir.resolve("small.qcow2").toString();
        default -> word;
      });
    }
    return cmd.toArray(String[]::new);
  }

  /**
   * The error's text without the program's prefix, as one line (qemu-img wraps its granularity hint over two, and
   * adds a hint line to "inconsistent" errors); QEMU's internal node names ({@code '#block123'}) are cut off.
   */
  private static String message(String err, String prefix) {
    String text = err.lines().filter(l -> !l.startsWith("Try ")).map(l -> l.startsWith(prefix) ? l.substring(prefix.length()) : l)
        .reduce((a, b) -> a + " " + b).orElse("");
    int node = text.indexOf(" persistent in '");
    int store = text.indexOf("Can't store persistent bitmaps to '");
    return node >= 0 ? text.substring(0, node) : store >= 0 ? text.substring(0, store) : text;
  }
}
