package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IoCommandTest {
  /** qemu-io's report line, whatever the timing. */
  private static final String TIMING = "[0-9.]+ (bytes|KiB|MiB|GiB), 1 ops; (\\d\\d\\.\\d\\d sec|\\d+:\\d\\d:\\d\\d\\.\\d\\d) "
      + "\\([0-9.]+ (bytes|KiB|MiB|GiB|TiB)/sec and \\d+\\.\\d{4} ops/sec\\)";

  @TempDir Path dir;
  private Path img;

  @BeforeEach
  void image() throws IOException {
    img = dir.resolve("io.img");
    Files.write(img, new byte[4 << 20]);
  }

  private Vdisk.Result io(String... commands) {
    String[] args = new String[commands.length * 2 + 4];
    args[0] = "io";
    args[1] = "-f";
    args[2] = "raw";
    for (int i = 0; i < commands.length; i++) {
      args[3 + 2 * i] = "-c";
      args[4 + 2 * i] = commands[i];
    }
    args[args.length - 1] = img.toString();
    return Vdisk.run(args);
  }

  @Test
  void writeThenReadPrintsQemuIosReports() throws IOException {
    Vdisk.Result r = io("write -P 0x5a 1M 64k", "read -P 0x5a 1M 64k");
    assertThat(r.exit()).isZero();
    String[] lines = r.out().split("\n");
    assertThat(lines).hasSize(4);
    assertThat(lines[0]).isEqualTo("wrote 65536/65536 bytes at offset 1048576");
    assertThat(lines[1]).matches("64 KiB, 1 ops; .*").matches(TIMING);
    assertThat(lines[2]).isEqualTo("read 65536/65536 bytes at offset 1048576");
    assertThat(lines[3]).matches(TIMING);
    assertThat(r.err()).isEmpty();
    byte[] data = Files.readAllBytes(img);
    assertThat(data[(1 << 20) - 1]).isZero();
    assertThat(data[1 << 20]).isEqualTo((byte) 0x5a);
    assertThat(data[(1 << 20) + 65535]).isEqualTo((byte) 0x5a);
    assertThat(data[(1 << 20) + 65536]).isZero();
  }

  /** qemu-io's {@code -i/--aio}: every mode moves the same bytes; native needs a direct cache, as in QEMU. */
  @Test
  void everyAioModeWritesAndReadsAndNativeNeedsADirectCache() throws IOException {
    String[][] modes = {{"-i", "threads", "-t", "none"}, {"--aio", "io_uring", "-t", "writeback"},
        {"--aio=native", "-t", "directsync"}};
    int pattern = 0x11;
    for (String[] mode : modes) {
      String[] args = new String[mode.length + 8];
      System.arraycopy(new String[] {"io", "-f", "raw"}, 0, args, 0, 3);
      System.arraycopy(mode, 0, args, 3, mode.length);
      String p = String.format("0x%x", pattern);
      System.arraycopy(new String[] {"-c", "write -q -P " + p + " 4k 8k", "-c", "read -q -P " + p + " 4k 8k",
          img.toString()}, 0, args, 3 + mode.length, 5);
      Vdisk.Result r = Vdisk.run(args);
      assertThat(r.exit()).as(String.join(" ", mode)).isZero();
      assertThat(r.err()).isEmpty();
      assertThat(Files.readAllBytes(img)[4096 + 8191]).isEqualTo((byte) pattern);
      pattern++;
    }
    Vdisk.Result refused = Vdisk.run("io", "-f", "raw", "-i", "native", "-c", "read 0 512", img.toString());
    assertThat(refused.exit()).isEqualTo(1);
    assertThat(refused.err()).isEqualTo(
        "vdisk io: aio=native was specified, but it requires cache.direct=on, which was not specified.\n");
  }

  @Test
  void defaultPatternIsQemuIosCd() throws IOException {
    assertThat(io("write -q 0 512").exit()).isZero();
    assertThat(Files.readAllBytes(img)[511]).isEqualTo((byte) 0xcd);
    assertThat(io("read -q -P 0xcd 0 512").out()).isEmpty();
  }

  @Test
  void patternMismatchPrintsQemuIosLineAndFails() {
    Vdisk.Result r = io("write -q -P 1 4096 4096", "read -P 2 4096 4096", "read -q -P 1 4096 4096");
    assertThat(r.exit()).isEqualTo(1);
    String[] lines = r.out().split("\n");
    assertThat(lines[0]).isEqualTo("Pattern verification failed at offset 4096, 4096 bytes");
    assertThat(lines[1]).isEqualTo("read 4096/4096 bytes at offset 4096");
    assertThat(lines).hasSize(3);
    assertThat(r.err()).isEmpty();
  }

  @Test
  void readBeyondTheEndIsOneErrorLineAndTheRestStillRuns() {
    Vdisk.Result r = io("read 4M 512", "read -q 0 512");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(
        "vdisk io: read: offset 4194304 length 512 ends beyond the device (expected: end <= size 4194304)");
    assertThat(r.out()).isEmpty();
  }

  @Test
  void zeroesDiscardFlushAndMap() throws IOException {
    Files.write(img, new byte[] {1, 2, 3});
    Files.write(img, new byte[4 << 20]);
    assertThat(io("write -P 7 0 8k").exit()).isZero();
    Vdisk.Result r = io("write -z -u 0 4k", "write -f 4k 4k", "discard 1M 64k", "flush", "read -P 0 0 4k", "map");
    assertThat(r.exit()).isZero();
    String[] lines = r.out().split("\n");
    assertThat(lines[0]).isEqualTo("wrote 4096/4096 bytes at offset 0");
    assertThat(lines[2]).isEqualTo("wrote 4096/4096 bytes at offset 4096");
    assertThat(lines[4]).isEqualTo("discard 65536/65536 bytes at offset 1048576");
    assertThat(lines[6]).isEqualTo("read 4096/4096 bytes at offset 0");
    assertThat(lines[8]).isEqualTo("4 MiB (0x400000) bytes     allocated at offset 0 bytes (0x0)");
    assertThat(lines).hasSize(9);
  }

  /** Parsing comes first: a bad command anywhere means nothing runs and the file keeps its bytes. */
  @Test
  void aBadCommandStopsEverythingBeforeTheImageIsTouched() throws IOException {
    byte[] before = Files.readAllBytes(img);
    for (String[] cmds : new String[][] {
        {"write 0 4k", "read x 5"},
        {"write 0 4k", "read 0"},
        {"write 0 4k", "bogus 1 2"},
        {"write 0 4k", "read -P 300 0 5"},
        {"write 0 4k", "write -z -P 1 0 5"},
        {"write 0 4k", "write -u 0 5"}}) {
      Vdisk.Result r = io(cmds);
      assertThat(r.exit()).as(String.join("; ", cmds)).isEqualTo(1);
      assertThat(r.errLines()).as(String.join("; ", cmds)).hasSize(1);
      assertThat(r.err()).startsWith("vdisk io: -c '" + cmds[1] + "': ").contains("(expected: ");
      assertThat(r.out()).isEmpty();
    }
    assertThat(Files.readAllBytes(img)).isEqualTo(before);
  }

  @Test
  void parseErrorsNameTheProblem() {
    assertThat(io("read x 5").errLines()).containsExactly("vdisk io: -c 'read x 5': offset: 'x' "
        + "(expected: bytes like 4096, or with a suffix b, k, M, G, T, P, E like 64k or 1.5G)");
    assertThat(io("bogus 1 2").errLines()).containsExactly(
        "vdisk io: -c 'bogus 1 2': unknown command 'bogus' (expected: read, write, discard, flush or map)");
    assertThat(io("read -P 300 0 5").errLines()).containsExactly(
        "vdisk io: -c 'read -P 300 0 5': pattern: '300' (expected: an integer from 0 to 255)");
    assertThat(io("read 0").errLines()).containsExactly("vdisk io: -c 'read 0': Missing required parameter: 'LEN' "
        + "(expected: vdisk io -c 'read [-P pattern] [-q] OFF LEN')");
  }

  @Test
  void readOnlyRefusesWrites() throws IOException {
    byte[] before = Files.readAllBytes(img);
    Vdisk.Result r = Vdisk.run("io", "-r", "-f", "raw", "-c", "write 0 512", img.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).hasSize(1);
    assertThat(r.err()).startsWith("vdisk io: write: device is read-only");
    assertThat(Files.readAllBytes(img)).isEqualTo(before);
  }

  @Test
  void probedRawPrintsQemusWarningForWritableOpensOnly() {
    Vdisk.Result rw = Vdisk.run("io", "-c", "flush", img.toString());
    assertThat(rw.exit()).isZero();
    assertThat(rw.errLines()).containsExactly(
        "WARNING: Image format was not specified for '" + img + "' and probing guessed raw.",
        "         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.",
        "         Specify the 'raw' format explicitly to remove the restrictions.");
    assertThat(Vdisk.run("io", "-r", "-c", "flush", img.toString()).err()).isEmpty();
    assertThat(Vdisk.run("io", "-f", "raw", "-c", "flush", img.toString()).err()).isEmpty();
  }

  @Test
  void forceShareNeedsReadOnly() {
    Vdisk.Result r = Vdisk.run("io", "-U", "-c", "flush", img.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk io: force-share (-U): requires a read-only open (expected: read-only)");
  }

  @Test
  void badCacheModeIsOneLine() {
    Vdisk.Result r = Vdisk.run("io", "-t", "bogus", "-c", "flush", img.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(
        "vdisk io: cache mode: 'bogus' (expected: writeback, writethrough, none, off, directsync, unsafe)");
  }

  @Test
  void timingFollowsQemuIo() {
    assertThat(IoCommand.timing(65536, 1, 1_440_000)).isEqualTo("64 KiB, 1 ops; 00.00 sec (43.403 MiB/sec and 694.4444 ops/sec)");
    assertThat(IoCommand.timing(1 << 30, 1, 1_902_000_000L)).isEqualTo("1 GiB, 1 ops; 0:00:01.90 (538.381 MiB/sec and 0.5258 ops/sec)");
    assertThat(IoCommand.timing(0, 1, 56_000)).isEqualTo("0 bytes, 1 ops; 00.00 sec (0 bytes/sec and 17857.1429 ops/sec)");
  }

  @Test
  void wordsHonourQuotes() {
    assertThat(IoCommand.words("  read  -P 0x5a '0' \"4k\" ")).containsExactly("read", "-P", "0x5a", "0", "4k");
  }
}
