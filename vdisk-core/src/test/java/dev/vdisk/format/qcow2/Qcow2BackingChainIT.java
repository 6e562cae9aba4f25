package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.format.Backing;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backing chains made by qemu-img: contents, names, formats, and the errors for broken chains. */
class Qcow2BackingChainIT {
  private static final long MIB = 1 << 20;

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    Qemu.require();
  }

  /** base (8 MiB) <- sub/mid (4 MiB, smaller) <- top (12 MiB, larger), names relative to each image's directory. */
  private void chain(String baseFormat) throws Exception {
    Files.createDirectory(dir.resolve("sub"));
    Path sub = dir.resolve("sub");
    Qemu.img(sub, "create", "-f", baseFormat, "base." + baseFormat, Long.toString(8 * MIB));
    Qemu.img(sub, "create", "-f", "qcow2", "-b", "base." + baseFormat, "-F", baseFormat, "mid.qcow2", Long.toString(4 * MIB));
    Qemu.img(dir, "create", "-f", "qcow2", "-b", "sub/mid.qcow2", "-F", "qcow2", "top.qcow2", Long.toString(12 * MIB));
    if (baseFormat.equals("qcow2")) {
      Qemu.io(sub, "base.qcow2", "write -P 0xb1 0 8M", "write -z 1M 64k");
    } else {
      Files.write(sub.resolve("base.raw"), pattern((int) (8 * MIB), 0xb1));
    }
    Qemu.io(sub, "mid.qcow2", "write -P 0xa2 64k 64k", "write -z 2M 128k", "write -P 0xa3 4000 100");
    Qemu.io(dir, "top.qcow2", "write -P 0x73 128k 4k", "write -P 0x74 10M 4k", "write -z 3M 64k");
  }

  @Test
  void threeDeepChainWithSmallerAndLargerOverlaysReadsLikeQemu() throws Exception {
    chain("qcow2");
    assertReadsLikeQemu("top.qcow2");
    Map<?, ?> info = (Map<?, ?>) Json.parse(Qemu.img(dir, "info", "--output=json", "top.qcow2"));
    try (OpenImage top = Vdisk.open(dir.resolve("top.qcow2"))) {
      Backing mid = Vdisk.backing(top.device()).orElseThrow();
      assertThat(mid.fileName()).isEqualTo(info.get("backing-filename"));
      assertThat(mid.format()).isEqualTo(info.get("backing-filename-format"));
      assertThat(mid.formatProbed()).isFalse();
      assertThat(mid.path()).isEqualTo(dir.resolve((String) info.get("full-backing-filename")));
      Backing base = Vdisk.backing(mid.device()).orElseThrow();
      assertThat(base.path()).isEqualTo(dir.resolve("sub/base.qcow2"));
      assertThat(Vdisk.backing(base.device())).isEmpty();
      assertThat(mid.device().size()).isEqualTo(4 * MIB);
      // The top layer describes only what it stores; the rest is a hole the caller asks the backing about.
      Extent first = top.device().extents(0, 12 * MIB).getFirst();
      assertThat(first.present()).isFalse();
      assertThat(first.length()).isEqualTo(128 << 10);
    }
  }

  @Test
  void rawBaseReadsLikeQemu() throws Exception {
    chain("raw");
    assertReadsLikeQemu("top.qcow2");
    try (OpenImage top = Vdisk.open(dir.resolve("top.qcow2"))) {
      BlockDevice mid = Vdisk.backing(top.device()).orElseThrow().device();
      Backing base = Vdisk.backing(mid).orElseThrow();
      assertThat(base.format()).isEqualTo("raw");
      assertThat(Vdisk.isQcow2(mid)).isTrue();
      assertThat(Vdisk.isQcow2(base.device())).isFalse();
    }
  }

  @Test
  void backingWithoutRecordedFormatIsProbed() throws Exception {
    chain("qcow2");
    byte[] expected = convert("top.qcow2");
    // Turn the backing format extension of sub/mid.qcow2 into an unknown one, which readers skip.
    Path mid = dir.resolve("sub/mid.qcow2");
    int at = find(Files.readAllBytes(mid), new byte[] {(byte) 0xe2, 0x79, 0x2a, (byte) 0xca});
    patch(mid, at, new byte[] {0x0b, (byte) 0xad, (byte) 0xf0, 0x0d});
    try (OpenImage top = Vdisk.open(dir.resolve("top.qcow2"))) {
      BlockDevice midDevice = Vdisk.backing(top.device()).orElseThrow().device();
      Backing base = Vdisk.backing(midDevice).orElseThrow();
      assertThat(base.formatProbed()).isTrue();
      assertThat(base.format()).isEqualTo("qcow2");
      assertThat(Vdisk.readAll(top.device())).isEqualTo(expected);
    }
  }

  @Test
  void loopIsRefusedNamingTheChain() throws Exception {
    Qemu.img(dir, "create", "-f", "qcow2", "a.qcow2", "1M");
    Qemu.img(dir, "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2", "1M");
    Qemu.img(dir, "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2");
    assertThatThrownBy(() -> Vdisk.open(dir.resolve("b.qcow2")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("backing file 'a.qcow2': backing file 'b.qcow2': backing chain: ")
        .hasMessageContaining("b.qcow2 -> " + dir.toRealPath().resolve("a.qcow2") + " -> " + dir.toRealPath().resolve("b.qcow2"))
        .hasMessageContaining("(a loop) (expected: no image appearing twice)");
  }

  @Test
  void chainDeeperThan64IsRefused() throws Exception {
    Qemu.img(dir, "create", "-f", "qcow2", "0.qcow2", "1M");
    for (int i = 1; i <= FileContext.MAX_DEPTH; i++) {
      Qemu.img(dir, "create", "-f", "qcow2", "-b", (i - 1) + ".qcow2", "-F", "qcow2", i + ".qcow2", "1M");
    }
    try (OpenImage ok = Vdisk.open(dir.resolve((FileContext.MAX_DEPTH - 1) + ".qcow2"))) {
      assertThat(Vdisk.read(ok.device(), 0, 4096)).containsOnly(0);
    }
    assertThatThrownBy(() -> Vdisk.open(dir.resolve(FileContext.MAX_DEPTH + ".qcow2")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("backing chain depth: 65 images (expected: at most 64)");
  }

  @Test
  void missingBackingFileIsNamed() throws Exception {
    Qemu.img(dir, "create", "-f", "qcow2", "gone.qcow2", "1M");
    Qemu.img(dir, "create", "-f", "qcow2", "-b", "gone.qcow2", "-F", "qcow2", "top.qcow2", "1M");
    Files.delete(dir.resolve("gone.qcow2"));
    assertThatThrownBy(() -> Vdisk.open(dir.resolve("top.qcow2")))
        .isInstanceOf(IOException.class)
        .hasMessage("backing file 'gone.qcow2': backing file: " + dir.resolve("gone.qcow2") + " (expected: an existing file)");
  }

  private void assertReadsLikeQemu(String image) throws Exception {
    byte[] expected = convert(image);
    try (OpenImage img = Vdisk.open(dir.resolve(image))) {
      byte[] got = Vdisk.readAll(img.device());
      assertThat(Arrays.mismatch(got, expected)).as("first differing byte").isEqualTo(-1);
      // Unaligned reads across layer boundaries and the ends of shorter backing images.
      for (long off : new long[] {4095, 65535, 4 * MIB - 10, 8 * MIB - 3, 12 * MIB - 5000}) {
        int len = (int) Math.min(70_000, 12 * MIB - off);
        assertThat(Vdisk.read(img.device(), off, len)).isEqualTo(Arrays.copyOfRange(expected, (int) off, (int) off + len));
      }
    }
  }

  private byte[] convert(String image) throws Exception {
    Qemu.img(dir, "convert", "-O", "raw", image, "expected.raw");
    return Files.readAllBytes(dir.resolve("expected.raw"));
  }

  private static byte[] pattern(int size, int seed) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) {
      b[i] = (byte) (seed + i / 4096);
    }
    return b;
  }

  private static int find(byte[] hay, byte[] needle) {
    for (int i = 0; i + needle.length <= hay.length; i++) {
      if (Arrays.equals(hay, i, i + needle.length, needle, 0, needle.length)) {
        return i;
      }
    }
    throw new AssertionError("not found");
  }

  static void patch(Path file, long at, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), at);
    }
  }
}
