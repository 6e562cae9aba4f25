package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Copies of a valid qemu-made image with known bytes written at known header and table offsets: each is refused
 * with a message naming the field, the value and what was expected, and none makes vdisk allocate what the
 * header claims, hang or read outside the file.
 *
 * <p>The base image: v3, 64 KiB clusters, 16 MiB, 128 KiB of data at 0, one snapshot. Its header puts the
 * refcount table at 0x10000 (1 cluster), the L1 table at 0x30000 (1 entry), the snapshot table at 0x80000 and
 * the feature name table extension at 0x70.
 */
class Qcow2HostileImageIT {
  @TempDir static Path shared;
  private static Path base;

  @TempDir Path dir;

  /** Writes bytes into an image copy. */
  @FunctionalInterface
  interface Damage {
    void apply(Image image) throws IOException;
  }

  /** An image file being damaged. */
  record Image(Path path) {
    void u8(long at, int v) throws IOException {
      put(at, new byte[] {(byte) v});
    }

    void u32(long at, long v) throws IOException {
      put(at, ByteBuffer.allocate(4).putInt((int) v).array());
    }

    void u64(long at, long v) throws IOException {
      put(at, ByteBuffer.allocate(8).putLong(v).array());
    }

    long read64(long at) throws IOException {
      ByteBuffer b = ByteBuffer.allocate(8);
      try (FileChannel ch = FileChannel.open(path)) {
        ch.read(b, at);
      }
      return b.getLong(0);
    }

    long size() throws IOException {
      return Files.size(path);
    }

    void put(long at, byte[] bytes) throws IOException {
      try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(bytes), at);
      }
    }

    /** The 64-bit header field at {@code at}. */
    long read64Header(int at) throws IOException {
      return read64(at);
    }

    /** Host offset of the L2 table of L1 entry 0. */
    long firstL2() throws IOException {
      return read64(0x30000) & Geometry.OFFSET_MASK;
    }
  }

  @BeforeAll
  static void makeBase() throws Exception {
    Qemu.require();
    Qemu.img(shared, "create", "-f", "qcow2", "base.qcow2", "16M");
    Qemu.io(shared, "base.qcow2", "write -P 0x11 0 128k");
    Qemu.img(shared, "snapshot", "-c", "s1", "base.qcow2");
    base = shared.resolve("base.qcow2");
  }

  /**
   * Makes the image LUKS encrypted (crypt_method 2) with a full disk encryption header extension of {@code length}
   * bytes in place of its first extension, pointing at {@code offset} and {@code areaLength}.
   */
  private static void luks(Image i, long length, long offset, long areaLength) throws IOException {
    i.u32(32, 2);
    i.u32(0x70, 0x0537be77);
    i.u32(0x74, length);
    i.u64(0x78, offset);
    i.u64(0x80, areaLength);
  }

  static Stream<Arguments> openErrors() {
    return Stream.of(
        bad("truncated header", i -> {
          try (FileChannel ch = FileChannel.open(i.path(), StandardOpenOption.WRITE)) {
            ch.truncate(50);
          }
        }, "file size: 50 bytes (expected: at least 72, a qcow2 header)"),
        bad("magic", i -> i.u8(3, 0xfc), "magic: 0x514649fc (expected: 0x514649fb"),
        bad("version", i -> i.u32(4, 4), "Unsupported qcow2 version 4 (expected: 2 or 3)"),
        bad("cluster_bits too small", i -> i.u32(20, 8), "cluster_bits: 8 (expected: 9 to 21"),
        bad("cluster_bits too large", i -> i.u32(20, 30), "cluster_bits: 30 (expected: 9 to 21"),
        bad("header_length too short", i -> i.u32(100, 100), "header_length: 100 (expected: a multiple of 8 from 104 to the cluster size 65536)"),
        bad("header_length past the cluster", i -> i.u32(100, 70000), "header_length: 70000 (expected: a multiple of 8"),
        bad("refcount_order", i -> i.u32(96, 7), "refcount_order: 7 (expected: 0 to 6"),
        bad("size beyond int64", i -> i.u64(24, -1), "size: 18446744073709551615 (expected: at most 9223372036854775807)"),
        bad("size beyond the L1 table", i -> i.u64(24, 1L << 40), "l1_size: 1 (expected: at least 2048 entries to map the virtual size 1099511627776)"),
        bad("l1_size too large for memory", i -> i.u32(36, 0xffffffffL), "l1_size: 4294967295 (expected: at most 4194304 entries, QEMU's 32 MiB L1 limit)"),
        bad("l1_size too small", i -> i.u32(36, 0), "l1_size: 0 (expected: at least 1 entries to map the virtual size 16777216)"),
        // Read-only, the part past the end would read as zeroes; the part inside the file aliases the snapshot table.
        bad("L1 table past EOF by size", i -> i.u32(36, 4194304),
            "L1 table: offset 196608 length 327747 (expected: no overlap with snapshot table at 524288..524355)"),
        bad("L1 table unaligned", i -> i.u64(40, 0x30008), "l1_table_offset: 196616 (expected: a non-negative multiple of the cluster size 65536)"),
        bad("L1 table over the refcount table", i -> i.u64(40, 0x10000),
            "L1 table: offset 65536 length 8 (expected: no overlap with refcount table at 65536..131072)"),
        bad("L1 table over the header", i -> i.u64(40, 0), "L1 table: offset 0 length 8 (expected: no overlap with the header cluster at 0..65536)"),
        bad("L2 table over the refcount table", i -> i.u64(0x30000, 0x10000 | Geometry.COPIED),
            "L2 table of L1 entry 0: offset 65536 length 65536 (expected: no overlap with refcount table at 65536..131072)"),
        bad("L2 table over the L1 table", i -> i.u64(0x30000, 0x30000),
            "L2 table of L1 entry 0: offset 196608 length 65536 (expected: no overlap with L1 table at 196608..196616)"),
        bad("L2 table unaligned", i -> i.u64(0x30000, 0x40200), "L1 entry 0: L2 table offset: 262656 (expected: a multiple of the cluster size 65536)"),
        bad("refcount_table_clusters too large", i -> i.u32(56, 0x10000000), "refcount_table_clusters: 268435456 (expected: 1 to 128, QEMU's 8 MiB refcount table limit"),
        bad("refcount_table_clusters zero", i -> i.u32(56, 0), "refcount_table_clusters: 0 (expected: 1 to 128"),
        bad("refcount table unaligned", i -> i.u64(48, 0x10001), "refcount_table_offset: 65537 (expected: a non-negative multiple of the cluster size 65536)"),
        bad("AES encryption", i -> i.u32(32, 1),
            "crypt_method: 1 (expected: 0 or 2: legacy AES-CBC encryption (crypt_method 1) is not supported, only LUKS)"),
        bad("unknown encryption", i -> i.u32(32, 3), "crypt_method: 3 (expected: 0 (none) or 2 (LUKS): Unsupported encryption method)"),
        bad("LUKS encryption without its header", i -> i.u32(32, 2),
            "full disk encryption header extension: absent (expected: present with crypt_method 2 (LUKS))"),
        bad("full disk encryption extension without encryption", i -> i.u32(0x70, 0x0537be77),
            "full disk encryption header extension: present with crypt_method 0 (expected: only with crypt_method 2"),
        bad("full disk encryption extension of the wrong length", i -> luks(i, 8, 0, 0),
            "full disk encryption header extension: length: 8 (expected: exactly 16)"),
        bad("LUKS header unaligned", i -> luks(i, 16, 0x10200, 4096),
            "full disk encryption header extension: offset: 66048 (expected: a multiple of the cluster size 65536)"),
        bad("LUKS area shorter than a LUKS header", i -> luks(i, 16, 0x70000, 100),
            "length of the LUKS area: 100 (expected: at least the LUKS header's 592 bytes"),
        bad("LUKS area without a LUKS header", i -> luks(i, 16, 0x70000, 4096), "Volume is not in LUKS format"),
        bad("unknown incompatible bit with a name", i -> {
          i.u8(0x139, 5);
          i.put(0x13a, "fancy\0\0\0\0\0\0\0\0\0\0\0\0\0\0".getBytes(StandardCharsets.US_ASCII));
          i.u64(72, 1L << 5);
        }, "incompatible_features 0x20: unknown bit 5 (fancy) (expected: only bits 0-4: dirty, corrupt, external data file, compression type, extended L2)"),
        bad("unknown incompatible bit without a name", i -> i.u64(72, (1L << 40) | 1), "incompatible_features 0x10000000001: unknown bit 40 (expected: only bits 0-4"),
        bad("backing file name too long", i -> {
          i.u64(8, 0x1000);
          i.u32(16, 2000);
        }, "backing_file_size: 2000 (expected: at most 1023 bytes, within the first cluster)"),
        bad("backing file name past the first cluster", i -> {
          i.u64(8, 0xff00);
          i.u32(16, 1000);
        }, "backing_file_size: 1000 (expected: at most 256 bytes, within the first cluster)"),
        bad("backing file offset past the first cluster", i -> {
          i.u64(8, 0x10001);
          i.u32(16, 0);
        }, "backing_file_offset: 65537 (expected: 0, or at most the cluster size 65536)"),
        bad("too many snapshots", i -> i.u32(60, 70000), "nb_snapshots: 70000 (expected: at most 65536)"),
        bad("snapshot table past EOF", i -> i.u64(64, 1L << 40), "snapshot table entry 0: offset 1099511627776 length 40 (expected: inside the image file of "),
        bad("snapshot extra data too large", i -> i.u32(0x80000 + 36, 0x7fffffff), "snapshot table entry 0: extra_data_size: 2147483647 (expected: at most 1024)"),
        bad("snapshot entries past EOF", i -> i.u32(60, 65536), "snapshot table entry 1: offset "),
        bad("snapshot L1 table too large", i -> i.u32(0x80000 + 8, 0xffffffffL), "snapshot table entry 0: l1_size: 4294967295 (expected: at most 4194304 entries"),
        bad("snapshot table over the L1 table", i -> i.u64(64, 0x30000),
            "L1 table: offset 196608 length 8 (expected: no overlap with snapshot table at 196608..196648)"),
        bad("header extension longer than the cluster", i -> i.u32(0x74, 0xffff0000L),
            "header extension 0x6803f857 at offset 112: length: 4294901760 (expected: at most 65416, ending before the end of the first cluster)"),
        bad("unknown compression type", i -> {
          i.u8(104, 2);
          i.u64(72, Features.INCOMPAT_COMPRESSION);
        }, "compression_type: 2 (expected: 0 (zlib) or 1 (zstd))"),
        bad("compression bit without a compression type", i -> i.u64(72, Features.INCOMPAT_COMPRESSION),
            "incompatible feature bit 3 (compression type): set (expected: unset for compression_type 0)"),
        bad("data file bit without a name", i -> i.u64(72, Features.INCOMPAT_DATA_FILE),
            "external data file name: absent (expected: a data file name header extension with incompatible feature bit 2)"),
        bad("data_file_raw without a data file", i -> i.u64(88, Features.AUTOCLEAR_DATA_FILE_RAW),
            "autoclear feature bit 1 (data_file_raw): set (expected: unset without an external data file)"),
        bad("extended L2 with small clusters", i -> {
          i.u32(20, 12);
          i.u64(72, Features.INCOMPAT_EXTENDED_L2);
        }, "cluster_bits: 12 (expected: at least 14 with extended L2 entries)"));
  }

  private static Arguments bad(String name, Damage damage, String message) {
    return Arguments.of(name, damage, message);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("openErrors")
  void damagedImageIsRefusedAtOpen(String name, Damage damage, String message) throws Exception {
    Image image = copy();
    damage.apply(image);
    assertThatThrownBy(() -> Vdisk.open(image.path()).close())
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining(message);
  }

  /**
   * Issue 13, fault 10: an L1 entry pointing past the end of the file names an L2 table QEMU reads as zeroes (as
   * every read past the end of a file), so the clusters it maps are unallocated: a read-only open reads what
   * qemu-img reads (its raw conversion), where vdisk refused the image. A writable open is still refused, since
   * writing that table back would put metadata where no refcount counts it.
   */
  @ParameterizedTest(name = "L2 table at {0}")
  @ValueSource(longs = {1L << 40, 0x7fff_ffff_0000L, 0x100_0000L})
  void l2TablePastEofReadsAsQemuReadsIt(long l2) throws Exception {
    Image image = copy();
    image.u64(0x30000, l2 | Geometry.COPIED);
    Qemu.img(dir, "convert", "-f", "qcow2", "-O", "raw", image.path().toString(), "qemu.raw");
    try (OpenImage img = Vdisk.open(image.path())) {
      assertThat(Vdisk.readAll(img.device())).isEqualTo(Files.readAllBytes(dir.resolve("qemu.raw")));
    }
    assertThatThrownBy(() -> Images.open(image.path(), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false)).close())
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining("L2 table of L1 entry 0: offset " + l2 + " length 65536 (expected: inside the file of ");
  }

  /**
   * A table past the end of the file (a file cut short, or a header that says so): QEMU reads it as zeroes, so
   * qemu-img info and reads work; a read-only open reads what qemu-img reads. A writable open is refused, since
   * vdisk would write the table back where no refcount counts it.
   */
  static Stream<Arguments> tablesPastEof() {
    return Stream.of(
        bad("L1 table past EOF", i -> i.u64(40, 1L << 40), "L1 table: offset 1099511627776 length 8 (expected: inside the file of "),
        bad("refcount table past EOF", i -> i.u64(48, 1L << 40), "refcount table: offset 1099511627776 length 65536 (expected: inside the file of "));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("tablesPastEof")
  void tablePastEofReadsAsQemuReadsIt(String name, Damage damage, String writableError) throws Exception {
    Image image = copy();
    damage.apply(image);
    Qemu.img(dir, "convert", "-f", "qcow2", "-O", "raw", image.path().toString(), "qemu.raw");
    try (OpenImage img = Vdisk.open(image.path())) {
      assertThat(Vdisk.readAll(img.device())).isEqualTo(Files.readAllBytes(dir.resolve("qemu.raw")));
    }
    assertThatThrownBy(() -> Images.open(image.path(), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false)).close())
        .isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining(writableError);
  }

  @Test
  void dirtyImageReads() throws Exception {
    Image image = copy();
    image.u64(72, Features.INCOMPAT_DIRTY);
    try (OpenImage img = Vdisk.open(image.path())) {
      assertThat(Vdisk.facts(img.device()).dirty()).isTrue();
      assertThat(Vdisk.read(img.device(), 0, 4096)).containsOnly(0x11);
    }
  }

  @Test
  void corruptImageReadsButRefusesWrites() throws Exception {
    Image image = copy();
    image.u64(72, Features.INCOMPAT_CORRUPT);
    try (OpenImage img = Vdisk.open(image.path())) {
      assertThat(Vdisk.facts(img.device()).formatSpecific()).containsEntry("corrupt", true);
      assertThat(Vdisk.read(img.device(), 0, 4096)).containsOnly(0x11);
      BlockDeviceException e = org.junit.jupiter.api.Assertions.assertThrows(BlockDeviceException.class,
          () -> img.device().unwrap().write(0, ByteBuffer.allocate(1), Set.of()));
      assertThat(e.error()).isEqualTo(BlockError.EPERM);
      assertThat(e).hasMessageContaining("the image is marked corrupt");
      assertThatThrownBy(() -> img.device().write(0, ByteBuffer.allocate(1), Set.of()))
          .isInstanceOfSatisfying(BlockDeviceException.class, x -> assertThat(x.error()).isEqualTo(BlockError.EPERM));
    }
  }

  @Test
  void unalignedDataClusterFailsTheRead() throws Exception {
    Image image = copy();
    long l2 = image.firstL2();
    long host = image.read64(l2) & Geometry.OFFSET_MASK;
    image.u64(l2, Geometry.COPIED | (host + 512));
    assertReadFails(image, 0, "L2 entry for guest offset 0: host offset: 0x" + Long.toHexString(host + 512)
        + " (expected: a multiple of the cluster size 65536)");
  }

  @Test
  void compressedClusterPastEofFailsTheRead() throws Exception {
    Image image = copy();
    long eof = image.size();
    image.u64(image.firstL2() + 8, Geometry.COMPRESSED | (eof + 1000));
    assertReadFails(image, 65536, "compressed cluster at guest offset 65536: host offset: " + (eof + 1000)
        + " (expected: inside the image file of " + eof + " bytes)");
  }

  @Test
  void compressedClusterInTheHeaderFailsTheRead() throws Exception {
    Image image = copy();
    image.u64(image.firstL2(), Geometry.COMPRESSED | 100);
    assertReadFails(image, 0, "compressed cluster at guest offset 0: host offset: 0x64 (expected: after the header cluster and below 2^56)");
  }

  @Test
  void compressedClusterOfGarbageFailsTheRead() throws Exception {
    Image image = copy();
    long l2 = image.firstL2();
    long data = image.read64(l2) & Geometry.OFFSET_MASK;
    // 0x11 bytes are no deflate stream; the sector count lets the decoder see a whole cluster of them.
    image.u64(l2, Geometry.COMPRESSED | (127L << 54) | data);
    assertReadFails(image, 0, "compressed cluster at guest offset 0: ");
  }

  @Test
  void zeroFlagInAVersion2ImageFailsTheRead() throws Exception {
    Qemu.img(dir, "create", "-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "1M");
    Qemu.io(dir, "v2.qcow2", "write -P 1 0 64k");
    Image image = new Image(dir.resolve("v2.qcow2"));
    long l2 = image.read64(image.read64Header(40)) & Geometry.OFFSET_MASK;
    image.u64(l2, image.read64(l2) | Geometry.ZERO);
    assertReadFails(image, 0, "L2 entry for guest offset 0: zero flag: set (expected: unset in a version 2 image)");
  }

  @Test
  void subclusterBothAllocatedAndZeroFailsTheRead() throws Exception {
    Qemu.img(dir, "create", "-f", "qcow2", "-o", "extended_l2=on", "x.qcow2", "1M");
    Qemu.io(dir, "x.qcow2", "write -P 1 0 4k");
    Image image = new Image(dir.resolve("x.qcow2"));
    long l2 = image.read64(image.read64Header(40)) & Geometry.OFFSET_MASK;
    image.u64(l2 + 8, 0x0000_0003_0000_0003L);
    assertReadFails(image, 0, "L2 bitmap for guest offset 0: 0x300000003 (expected: no subcluster both allocated and zero (bits 0x3 are))");
  }

  private static void assertReadFails(Image image, long offset, String message) throws IOException {
    try (OpenImage img = Vdisk.open(image.path())) {
      assertThatThrownBy(() -> Vdisk.read(img.device(), offset, 65536))
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EIO))
          .hasMessageContaining(message);
    }
  }

  private Image copy() throws IOException {
    Path p = dir.resolve("damaged.qcow2");
    Files.copy(base, p, StandardCopyOption.REPLACE_EXISTING);
    return new Image(p);
  }
}
