package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk dd} against {@code qemu-img dd} 7.2 on the same inputs and operands: the same exit code, the same
 * messages (but for a raw input opened with {@code -f qcow2}), and byte-identical output files (raw and qcow2), or no output where qemu-img makes none. {@code IN} is a
 * qcow2 image with data, zeroes and a compressed cluster and an odd size, {@code RAW} a raw image, {@code OUT} the
 * output (one per tool).
 */
class DdInteropIT {
  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  @ParameterizedTest(name = "dd {0}")
  @ValueSource(strings = {"if=IN of=OUT", "-O qcow2 if=IN of=OUT bs=1M count=2", "if=IN of=OUT bs=64k skip=3 count=5",
      "if=IN of=OUT bs=100 count=3", "if=IN of=OUT bs=1.5k count=7 skip=2", "if=IN of=OUT skip=99999",
      "if=IN of=OUT bs=64M skip=1", "if=IN of=OUT count=0", "if=IN of=OUT bs=1M bs=4k count=0x10 skip=1k",
      "-f raw if=RAW of=OUT count=1k", "-O qcow2 if=RAW of=OUT bs=4k", "-O qcow2 -f raw if=RAW of=OUT bs=1G",
      "--image-opts if=driver=qcow2,file.filename=IN of=OUT count=2", "-U if=IN of=OUT bs=1 skip=1k count=700",
      "if=IN", "of=OUT", "bs=1M", "if=IN of=OUT bs=0", "if=IN of=OUT bs=1k5", "if=IN of=OUT count=-1",
      "if=IN of=OUT foo=1", "if=IN of=OUT skip=1.5", "if=IN of=OUT bs=2G", "if=IN of=OUT extra", "if=IN of=OUT =x",
      "if=nope of=OUT", "-O bogus if=IN of=OUT", "if= of=OUT", "-f qcow2 if=RAW of=OUT",
      "if=IN of=OUT count=99999999999999999999", "if=IN of=OUT bs=99999999999999999999"})
  void sameAsQemuImg(String operands) throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "in.qcow2", "5244416");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 0x11 0 1M", "-c", "write -z 1M 64k", "-c", "write -c -P 0x22 2M 64k",
        "-c", "write -P 0x33 5243904 512", dir.resolve("in.qcow2").toString());
    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", "in.qcow2", "in.raw");
    Files.createDirectories(dir.resolve("q"));
    Files.createDirectories(dir.resolve("v"));
    PeerTools.Result q = PeerTools.run(dir, args(List.of("qemu-img", "dd"), operands, dir.resolve("q/out")));
    Vdisk.Result v = Vdisk.run(args(List.of("dd"), operands, dir.resolve("v/out")));
    assertThat(v.exit()).as("exit: " + v.err()).isEqualTo(q.exit());
    // A raw file opened as qcow2: vdisk's message names the magic it found instead of QEMU's "Image is not in qcow2
    // format" (the same one line every vdisk command gives for it).
    if (!operands.startsWith("-f qcow2 if=RAW")) {
      assertThat(message(v.err(), "vdisk dd: ", dir.resolve("v/out"))).isEqualTo(message(q.err(), "qemu-img: ", dir.resolve("q/out")));
    }
    assertThat(v.out()).isEqualTo(q.out());
    Path ours = dir.resolve("v/out");
    Path theirs = dir.resolve("q/out");
    assertThat(Files.exists(ours)).as("output made").isEqualTo(Files.exists(theirs));
    if (Files.exists(theirs)) {
      assertThat(Files.readAllBytes(ours)).as("output bytes").isEqualTo(Files.readAllBytes(theirs));
    }
  }

  private String[] args(List<String> head, String operands, Path out) {
    List<String> cmd = new ArrayList<>(head);
    for (String word : operands.split(" ")) {
      cmd.add(word.replace("IN", dir.resolve("in.qcow2").toString()).replace("RAW", dir.resolve("in.raw").toString())
          .replace("OUT", out.toString()));
    }
    return cmd.toArray(String[]::new);
  }

  /** The messages without the program's prefix and qemu-img's "Try ..." line, the output's path as OUT. */
  private static String message(String err, String prefix, Path out) {
    return err.lines().filter(l -> !l.startsWith("Try ") && !l.isBlank())
        .map(l -> l.startsWith(prefix) ? l.substring(prefix.length()) : l).map(l -> l.replace(out.toString(), "OUT"))
        .reduce((a, b) -> a + " " + b).orElse("");
  }
}
