package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Where a user moving from qemu-img meets the same behaviour: the same command line gives qemu-img 7.2's standard
 * output, exit code and (in vdisk's one-line form) error, and leaves the same files. Creating over an existing file
 * replaces it, unless another process holds the image; size 0 and sizes that are not a multiple of 512; {@code -o
 * help} without a file; a command vdisk lacks; {@code measure} of a compat 0.10 image; {@code info} and {@code check}
 * of an image whose backing file is missing; {@code io}'s warning for a probed raw image.
 */
class QemuImgHabitsInteropIT {
  /** Options qemu-img lists in {@code -o help} that vdisk does not implement. */
  private static final List<String> NOT_IMPLEMENTED = List.of("encrypt.", "encryption=", "extent_size_hint=", "nocow=");

  @TempDir Path dir;

  /** One command run by both tools on the same files, qemu-img first; {@code setUp} runs before each. */
  private record Both(PeerTools.Result theirs, Vdisk.Result ours) {}

  private Both both(Runnable setUp, String... args) throws IOException, InterruptedException {
    setUp.run();
    List<String> q = new ArrayList<>(List.of("qemu-img"));
    q.addAll(List.of(args));
    PeerTools.Result theirs = PeerTools.run(dir, q.toArray(String[]::new));
    setUp.run();
    return new Both(theirs, Vdisk.run(args));
  }

  private void assertSameOutAndExit(Both b, String what) {
    assertThat(b.ours().out()).as(what + " (stderr: " + b.ours().err() + ")").isEqualTo(b.theirs().out());
    assertThat(b.ours().exit()).as(what + ": exit").isEqualTo(b.theirs().exit());
  }

  /** vdisk's error line is qemu-img's, its lines joined into one, after {@code vdisk CMD: } for {@code qemu-img: }. */
  private static void assertSameError(Both b, String command) {
    String theirs = b.theirs().err().strip().replaceFirst("^qemu-img: ", "").replace("\n", ". ");
    assertThat(b.ours().errLines()).containsExactly("vdisk " + command + ": " + theirs);
  }

  /** Each: create's arguments, {@code IMG} standing for an existing file that is replaced. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"-f raw IMG 1000", "-f raw IMG 0", "-f raw IMG 1M", "-f qcow2 IMG 0", "-f qcow2 IMG 1000",
      "-f qcow2 -o size=3M IMG", "-f raw -o size=1001 IMG", "-f qcow2 -o preallocation=metadata IMG 1M"})
  void createReplacesAnExistingFileWithQemuImgsBytes(String args) throws Exception {
    Path image = dir.resolve("img");
    List<String> command = new ArrayList<>(List.of("create"));
    for (String a : args.split(" ")) {
      command.add(a.equals("IMG") ? image.toString() : a);
    }
    String old = "an old file that is longer than 512 bytes ".repeat(40);
    write(image, old);
    PeerTools.Result theirs = PeerTools.run(dir, prepend("qemu-img", command));
    byte[] theirBytes = Files.readAllBytes(image);
    write(image, old);
    Vdisk.Result ours = Vdisk.run(command.toArray(String[]::new));
    assertSameOutAndExit(new Both(theirs, ours), args);
    assertThat(ours.exit()).isZero();
    assertThat(Files.readAllBytes(image)).as(args + ": the file vdisk made").isEqualTo(theirBytes);
  }

  @Test
  void anImageInUseIsNeitherReplacedNorConvertedOnto() throws Exception {
    Path image = dir.resolve("busy.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "1M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "src.raw", "1M");
    byte[] before = Files.readAllBytes(image);
    Path socket = dir.resolve("nbd.sock");
    Process holder = new ProcessBuilder("qemu-nbd", "-f", "qcow2", "-k", socket.toString(), image.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd.log").toFile()).start();
    try {
      for (int i = 0; i < 100 && !Files.exists(socket); i++) {
        Thread.sleep(50);
      }
      assertThat(socket).as("qemu-nbd is serving the image").exists();
      Both create = both(() -> { }, "create", "-f", "qcow2", image.toString(), "2M");
      assertSameOutAndExit(create, "create over an image in use");
      assertSameError(create, "create");
      Both convert = both(() -> { }, "convert", "-O", "raw", dir.resolve("src.raw").toString(), image.toString());
      assertSameOutAndExit(convert, "convert onto an image in use");
      assertSameError(convert, "convert");
      assertThat(Files.readAllBytes(image)).as("the image in use").isEqualTo(before);
    } finally {
      holder.destroy();
      holder.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void convertReplacesAnExistingTarget() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "src.qcow2", "4M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 7 1M 64k", "src.qcow2");
    Path target = dir.resolve("out.raw");
    Both b = both(() -> write(target, "old target ".repeat(1000)), "convert", "-O", "raw", dir.resolve("src.qcow2").toString(),
        target.toString());
    assertSameOutAndExit(b, "convert onto an existing file");
    byte[] ours = Files.readAllBytes(target);
    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", "src.qcow2", "theirs.raw");
    assertThat(ours).isEqualTo(Files.readAllBytes(dir.resolve("theirs.raw")));
  }

  @Test
  void optionHelpNeedsNoFileAndListsWhatVdiskImplements() throws Exception {
    String[][] commands = {
        {"create", "-f", "qcow2", "-o", "help"}, {"create", "-f", "raw", "-o", "help"}, {"create", "-f", "qcow2", "-o", "?"},
        {"create", "-f", "qcow2", "-o", "help", dir.resolve("new.qcow2").toString()},
        {"create", "-f", "raw", "-o", "help", dir.resolve("new.raw").toString()},
        {"convert", "-O", "qcow2", "-o", "help"}, {"convert", "-O", "raw", "-o", "help"},
        {"convert", "-O", "qcow2", "-o", "help", dir.resolve("a").toString(), dir.resolve("b").toString()},
    };
    for (String[] args : commands) {
      Both b = both(() -> { }, args);
      String what = String.join(" ", args);
      String implemented = b.theirs().out().lines()
          .filter(l -> NOT_IMPLEMENTED.stream().noneMatch(n -> l.startsWith("  " + n)))
          .map(l -> l + "\n").collect(Collectors.joining());
      assertThat(b.ours().out()).as(what).isEqualTo(implemented);
      assertThat(b.ours().exit()).as(what).isEqualTo(b.theirs().exit()).isZero();
    }
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString())).as("files made by -o help").isEmpty();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"frobnicate", "amend", "dd"})
  void aCommandVdiskLacksIsOneLine(String command) throws Exception {
    Both b = both(() -> { }, command, "x.img");
    assertThat(b.ours().exit()).isEqualTo(b.theirs().exit()).isEqualTo(1);
    assertThat(b.ours().out()).isEqualTo(b.theirs().out()).isEmpty();
    assertThat(b.ours().errLines()).hasSize(1);
    assertThat(b.ours().err()).startsWith(command.equals("frobnicate")
        ? "vdisk: Command not found: frobnicate (expected: one of create, "
        : "vdisk: '" + command + "' is a qemu-img command that vdisk does not have yet (expected: one of create, ");
    if (command.equals("frobnicate")) {
      assertThat(b.theirs().err()).startsWith("qemu-img: Command not found: frobnicate\n");
    }
  }

  @Test
  void measureOfACompat010ImageHasNoBitmapsLine() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "16M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", "v2.qcow2");
    for (String output : List.of("human", "json")) {
      Both b = both(() -> { }, "measure", "--output=" + output, "-O", "qcow2", dir.resolve("v2.qcow2").toString());
      assertSameOutAndExit(b, "measure --output=" + output);
      assertThat(b.ours().out()).doesNotContain("bitmaps");
    }
  }

  @Test
  void infoShowsAnImageWhoseBackingFileIsMissingAndCheckFails() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 1 0 64k", "top.qcow2");
    Files.delete(dir.resolve("base.qcow2"));
    String top = dir.resolve("top.qcow2").toString();
    for (String[] args : new String[][] {{"info", top}, {"info", "--output=json", top}, {"check", top},
        {"check", "--output=json", top}, {"info", "--backing-chain", top}, {"map", top}}) {
      Both b = both(() -> { }, args);
      String what = String.join(" ", args);
      assertSameOutAndExit(b, what);
      if (b.theirs().exit() != 0) {
        assertThat(b.ours().errLines()).as(what).hasSize(1);
        assertThat(b.ours().err()).as(what).contains("base.qcow2");
      }
    }
    assertThat(Vdisk.run("check", top).err()).startsWith("vdisk check: Could not open '" + top + "': ");
  }

  @Test
  void ioWarnsAboutAProbedRawImageAsQemuIo() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "r.raw", "1M");
    String raw = dir.resolve("r.raw").toString();
    for (String[] flags : new String[][] {{}, {"-r"}, {"-f", "raw"}}) {
      List<String> args = new ArrayList<>(List.of(flags));
      args.addAll(List.of("-c", "read 0 512", raw));
      PeerTools.Result theirs = PeerTools.run(dir, prepend("qemu-io", args));
      Vdisk.Result ours = Vdisk.run(prepend("io", args));
      assertThat(ours.exit()).isEqualTo(theirs.exit()).isZero();
      assertThat(ours.err()).as("io " + String.join(" ", flags)).isEqualTo(theirs.err());
    }
  }

  /**
   * A qcow2 file cut short (a copy interrupted, a full disk): qemu-img info reads the tables past the end as zeroes
   * and prints the image's facts. Cuts inside the refcount table, before the L1 table, inside the L2 table, in the data.
   */
  @ParameterizedTest(name = "cut at {0}")
  @ValueSource(longs = {512, 100_000, 200_000, 300_000, 2_000_000})
  void infoOnATruncatedQcow2IsQemuImgs(long cut) throws Exception {
    Path image = dir.resolve("t.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "64M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 1 0 4M", image.toString());
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.truncate(cut);
    }
    for (String output : new String[] {"human", "json"}) {
      Both b = both(() -> {}, "info", "--output=" + output, image.toString());
      assertSameOutAndExit(b, "info --output=" + output + " of a file cut at " + cut);
    }
  }

  private static String[] prepend(String first, List<String> rest) {
    List<String> all = new ArrayList<>(List.of(first));
    all.addAll(rest);
    return all.toArray(String[]::new);
  }

  private static void write(Path p, String text) {
    try {
      Files.writeString(p, text);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
