package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Random damage to header bytes, L1 entries, L2 entries and the snapshot table of valid images: opening and
 * reading everything must either work or throw an IOException. Any other throwable (a runtime exception, an
 * OutOfMemoryError) fails, and so does taking too long. Seeds are fixed, so a failure replays.
 */
class Qcow2MutationIT {
  private static final int ROUNDS = 300;
  /** Reads stop here even when a damaged header claims a huge disk. */
  private static final int READ_LIMIT = 8 << 20;

  @TempDir static Path shared;

  @BeforeAll
  static void makeImages() throws Exception {
    Qemu.require();
    for (String[] v : new String[][] {{"zlib4k", "cluster_size=4096"}, {"zstd-extl2", "compression_type=zstd,extended_l2=on"}}) {
      String src = v[0] + "-src.qcow2";
      Qemu.img(shared, "create", "-f", "qcow2", src, "4M");
      Qemu.io(shared, src, "write -P 0x11 0 300k", "write -P 0x22 1M 64k", "write -P 0x33 3M 100k");
      Qemu.img(shared, "convert", "-c", "-O", "qcow2", "-o", v[1], src, v[0] + ".qcow2");
      Qemu.io(shared, v[0] + ".qcow2", "write -P 0x44 64k 8k", "write -z 2M 128k", "write -P 0x55 2200k 3k");
      Qemu.img(shared, "snapshot", "-c", "snap", v[0] + ".qcow2");
      Qemu.io(shared, v[0] + ".qcow2", "write -P 0x66 128k 64k");
    }
  }

  @ParameterizedTest(name = "{0} seed {1}")
  @CsvSource({"zlib4k, 1", "zlib4k, 2", "zlib4k, 3", "zstd-extl2, 4", "zstd-extl2, 5", "zstd-extl2, 6"})
  void damagedImagesOpenAndReadOrFailWithIOException(String base, long seed, @TempDir Path dir) {
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      Path original = shared.resolve(base + ".qcow2");
      Layout layout = Layout.of(original);
      Random rnd = new Random(seed);
      Path victim = dir.resolve("victim.qcow2");
      int readWhole = 0;
      for (int round = 0; round < ROUNDS; round++) {
        Files.copy(original, victim, StandardCopyOption.REPLACE_EXISTING);
        List<String> done = new ArrayList<>();
        int count = 1 + rnd.nextInt(3);
        for (int m = 0; m < count; m++) {
          done.add(mutate(victim, layout, rnd));
        }
        try {
          openAndReadAll(victim);
          readWhole++;
        } catch (IOException expected) {
          // Refusing damaged metadata is fine; anything but an IOException is not.
        } catch (Throwable t) {
          throw new AssertionError("seed " + seed + " round " + round + " mutations " + done + ": " + t, t);
        }
      }
      System.out.println("mutation seed " + seed + ": " + readWhole + " of " + ROUNDS + " damaged images read whole");
      // The damage must not all be caught at open: the read paths need their share.
      assertThat(readWhole).as("damaged images read whole").isGreaterThan(ROUNDS / 10);
    });
  }

  private static void openAndReadAll(Path image) throws IOException {
    try (OpenImage img = Vdisk.open(image)) {
      BlockDevice d = img.device();
      long size = d.size();
      long limit = Math.min(size, READ_LIMIT);
      ByteBuffer buf = ByteBuffer.allocate(1 << 20);
      for (long pos = 0; pos < limit; pos += buf.capacity()) {
        d.read(pos, buf.clear().limit((int) Math.min(buf.capacity(), limit - pos)));
      }
      if (size > limit) {
        d.read(size - 65536, ByteBuffer.allocate(65536));
      }
      if (limit > 0) {
        assertThat(d.extents(0, limit)).isNotEmpty();
      }
      Vdisk.facts(d).snapshots();
      Vdisk.facts(d).formatSpecific();
    }
  }

  /** Where the valid image keeps its tables, so mutations can aim at them. */
  record Layout(long fileSize, int clusterSize, long l1Offset, int l1Entries, List<Long> l2Tables, long snapshots) {
    static Layout of(Path image) throws IOException {
      try (FileChannel ch = FileChannel.open(image)) {
        ByteBuffer h = ByteBuffer.allocate(112);
        ch.read(h, 0);
        int clusterSize = 1 << h.getInt(20);
        int l1Entries = h.getInt(36);
        long l1Offset = h.getLong(40);
        ByteBuffer l1 = ByteBuffer.allocate(l1Entries * 8);
        ch.read(l1, l1Offset);
        List<Long> l2 = new ArrayList<>();
        for (int i = 0; i < l1Entries; i++) {
          long off = l1.getLong(i * 8) & Geometry.OFFSET_MASK;
          if (off != 0) {
            l2.add(off);
          }
        }
        return new Layout(ch.size(), clusterSize, l1Offset, l1Entries, l2, h.getLong(64));
      }
    }
  }

  /** Applies one random mutation and says what it was. */
  private static String mutate(Path image, Layout l, Random rnd) throws IOException {
    int kind = rnd.nextInt(10);
    long at;
    if (kind < 4) {
      at = rnd.nextInt(kind == 0 ? 512 : 112);
      return "header byte " + at + " = " + poke8(image, at, rnd);
    } else if (kind < 6) {
      at = l.l1Offset() + 8L * rnd.nextInt(l.l1Entries());
    } else if (kind < 9) {
      long table = l.l2Tables().get(rnd.nextInt(l.l2Tables().size()));
      // Aim mostly at the first entries, where the data is.
      at = table + 8L * rnd.nextInt(rnd.nextBoolean() ? 64 : l.clusterSize() / 8);
    } else {
      at = l.snapshots() + rnd.nextInt(64);
      return "snapshot byte " + at + " = " + poke8(image, at, rnd);
    }
    return "word at " + at + " = 0x" + Long.toHexString(poke64(image, at, l, rnd));
  }

  private static int poke8(Path image, long at, Random rnd) throws IOException {
    int v = rnd.nextBoolean() ? rnd.nextInt(256) : (read(image, at, 1).get(0) ^ (1 << rnd.nextInt(8))) & 0xff;
    write(image, at, ByteBuffer.allocate(1).put(0, (byte) v));
    return v;
  }

  private static long poke64(Path image, long at, Layout l, Random rnd) throws IOException {
    long old = read(image, at, 8).getLong(0);
    long v = switch (rnd.nextInt(5)) {
      case 0 -> rnd.nextLong();
      case 1 -> old ^ (1L << rnd.nextInt(64));
      case 2 -> old ^ (1L << (54 + rnd.nextInt(10)));
      case 3 -> (old & ~Geometry.OFFSET_MASK) | ((rnd.nextLong(l.fileSize() * 2) & -l.clusterSize()) & Geometry.OFFSET_MASK);
      default -> old | Geometry.COMPRESSED | rnd.nextLong(l.fileSize() * 2);
    };
    write(image, at, ByteBuffer.allocate(8).putLong(0, v));
    return v;
  }

  private static ByteBuffer read(Path image, long at, int n) throws IOException {
    try (FileChannel ch = FileChannel.open(image)) {
      ByteBuffer b = ByteBuffer.allocate(n);
      ch.read(b, at);
      return b;
    }
  }

  private static void write(Path image, long at, ByteBuffer b) throws IOException {
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(b, at);
    }
  }
}
