package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.ImageContext;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Golden tests of map's merging and printing. The device is a MemoryDevice written like the sparse file of
 * the qemu-img 7.2 session these outputs come from (data at 0, 1 MiB and 2 MiB of a 4 MiB image), so the
 * text does not depend on the host file system.
 */
class MapCommandTest {
  @TempDir Path dir;

  private static BlockDevice sparse() throws IOException {
    MemoryDevice mem = new MemoryDevice(4 << 20);
    mem.write(0, ByteBuffer.allocate(4096), Set.of());
    mem.write(1 << 20, ByteBuffer.allocate(65536), Set.of());
    mem.write(2 << 20, ByteBuffer.allocate(4096), Set.of());
    return mem;
  }

  private static String map(BlockDevice device, long start, long max, boolean json) throws IOException {
    StringWriter s = new StringWriter();
    try (PrintWriter out = new PrintWriter(s);
        Image image = dev.vdisk.Vdisk.open(device, ImageContext.standalone(Path.of("sp.img"), true),
            OpenOptions.builder().format("raw").readOnly(true).build())) {
      MapCommand.print(image, start, max, json, out);
    }
    return s.toString();
  }

  @Test
  void jsonIsQemuImgsText() throws IOException {
    assertThat(map(sparse(), 0, -1, true)).isEqualTo("""
        [{ "start": 0, "length": 4096, "depth": 0, "present": true, "zero": false, "data": true, "offset": 0},
        { "start": 4096, "length": 1044480, "depth": 0, "present": true, "zero": true, "data": false, "offset": 4096},
        { "start": 1048576, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 1048576},
        { "start": 1114112, "length": 983040, "depth": 0, "present": true, "zero": true, "data": false, "offset": 1114112},
        { "start": 2097152, "length": 4096, "depth": 0, "present": true, "zero": false, "data": true, "offset": 2097152},
        { "start": 2101248, "length": 2093056, "depth": 0, "present": true, "zero": true, "data": false, "offset": 2101248}]
        """);
  }

  @Test
  void humanIsQemuImgsTable() throws IOException {
    assertThat(map(sparse(), 0, -1, false)).isEqualTo("""
        Offset          Length          Mapped to       File
        0               0x1000          0               sp.img
        0x100000        0x10000         0x100000        sp.img
        0x200000        0x1000          0x200000        sp.img
        """);
  }

  @Test
  void startAndMaxLengthCutTheRange() throws IOException {
    assertThat(map(sparse(), 1 << 20, 32768, true)).isEqualTo("""
        [{ "start": 1048576, "length": 32768, "depth": 0, "present": true, "zero": false, "data": true, "offset": 1048576}]
        """);
    assertThat(map(sparse(), 1000, 3000, true)).isEqualTo("""
        [{ "start": 1000, "length": 3000, "depth": 0, "present": true, "zero": false, "data": true, "offset": 1000}]
        """);
  }

  @Test
  void startPastTheEndPrintsQemuImgsEmptyEntry() throws IOException {
    assertThat(map(sparse(), 5 << 20, -1, true)).isEqualTo("""
        [{ "start": 5242880, "length": 0, "depth": 0, "present": false, "zero": false, "data": false}]
        """);
    assertThat(map(new MemoryDevice(0), 0, -1, true)).isEqualTo("""
        [{ "start": 0, "length": 0, "depth": 0, "present": false, "zero": false, "data": false}]
        """);
    assertThat(map(new MemoryDevice(0), 0, -1, false)).isEqualTo("""
        Offset          Length          Mapped to       File
        """);
  }

  /** Through the command, on a file fully written: the same answer from any FileDevice. */
  @Test
  void commandMapsAFullFile() throws IOException {
    byte[] data = new byte[65536];
    Arrays.fill(data, (byte) 1);
    Path f = dir.resolve("full.img");
    Files.write(f, data);
    Vdisk.Result r = Vdisk.run("map", "--output=json", "-f", "raw", f.toString());
    assertThat(r.exit()).isZero();
    assertThat(r.out()).startsWith("[{ \"start\": 0, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": false, \"data\": true");
    assertThat(r.out()).endsWith("}]\n");
  }

  @Test
  void badOffsetsAreOneLine() throws IOException {
    Path f = dir.resolve("x.img");
    Files.write(f, new byte[4096]);
    Vdisk.Result r = Vdisk.run("map", "--start-offset", "1x", f.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(
        "vdisk map: --start-offset: '1x' (expected: bytes like 4096, or with a suffix b, k, M, G, T, P, E like 64k or 1.5G)");
    r = Vdisk.run("map", "--max-length", "-1", f.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk map: --max-length: '-1' is negative (expected: a byte count >= 0)");
  }
}
