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
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Damaged refcounts that call a metadata cluster free (the active L1 table, an active L2 table, the snapshot table,
 * a snapshot's L1 table, the bitmap directory): a write that must allocate is refused with EIO naming what the
 * cluster holds, and the metadata keeps its bytes. QEMU's overlap check refuses the same write (qemu-io on a copy);
 * vdisk used to hand the cluster out and write guest data over the table.
 *
 * <p>The image: qemu-img's, 64 KiB clusters, 16 MiB, 128 KiB of data at 0, a snapshot, then 64 KiB written at 0 again
 * (so the active L2 table is not the snapshot's) and a persistent bitmap.
 */
class Qcow2MetadataOverlapIT {
  @TempDir static Path shared;
  private static Path base;

  @TempDir Path dir;

  @BeforeAll
  static void makeBase() throws Exception {
    Qemu.require();
    Qemu.img(shared, "create", "-q", "-f", "qcow2", "base.qcow2", "16M");
    Qemu.io(shared, "base.qcow2", "write -P 0x11 0 128k");
    Qemu.img(shared, "snapshot", "-c", "s1", "base.qcow2");
    Qemu.io(shared, "base.qcow2", "write -P 0x22 0 64k");
    Qemu.img(shared, "bitmap", "--add", "base.qcow2", "b0");
    base = shared.resolve("base.qcow2");
  }

  @ParameterizedTest
  @ValueSource(strings = {"the active L1 table", "an active L2 table", "the snapshot table", "an inactive L1 table",
      "the bitmap directory"})
  void anAllocationOntoMetadataIsRefusedAndTheMetadataKept(String holds) throws Exception {
    Path image = dir.resolve("damaged.qcow2");
    Files.copy(base, image);
    long cluster = clusterHolding(image, holds);
    setRefcount(image, cluster, 0);

    try (OpenImage img = Images.open(image, "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
      byte[] before = cluster(image, cluster); // after the open, which marks the bitmap in use in its directory
      assertThatThrownBy(() -> img.device().write(8 << 20, ByteBuffer.allocate(65536), Set.of()))
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EIO))
          .hasMessageContaining("refcount of host cluster " + cluster + ", which holds " + holds);
      img.device().flush();
      assertThat(Arrays.mismatch(cluster(image, cluster), before)).as("first byte of the %s that changed", holds)
          .isEqualTo(-1);
    } catch (BlockDeviceException closing) {
      // The bitmaps' write-back at close releases the old directory, whose refcount is already 0.
      assertThat(holds).isEqualTo("the bitmap directory");
      assertThat(closing).hasMessageContaining("refcount of cluster " + cluster + ": 0");
    }

    Path peer = dir.resolve("peer.qcow2");
    Files.copy(base, peer);
    setRefcount(peer, cluster, 0);
    String out = Qemu.toolAllowingExit(dir, 1, "qemu-io", "-f", "qcow2", "-c", "write 8M 64k", peer.toString());
    assertThat(out).as("QEMU refuses the same write").contains("Preventing invalid write on metadata")
        .contains("write failed");
  }

  /** The host cluster that holds {@code what}, read from the image's header and tables. */
  private static long clusterHolding(Path image, String what) throws IOException {
    long offset = switch (what) {
      case "the active L1 table" -> u64(image, 40);
      case "an active L2 table" -> u64(image, u64(image, 40)) & Geometry.OFFSET_MASK;
      case "the snapshot table" -> u64(image, 64);
      case "an inactive L1 table" -> u64(image, u64(image, 64));
      default -> bitmapDirectory(image);
    };
    return offset >>> 16;
  }

  /** The bitmap directory's offset from the bitmaps header extension (type 0x23852875, directory offset at +16). */
  private static long bitmapDirectory(Path image) throws IOException {
    ByteBuffer b = read(image, 0, 65536);
    for (int at = b.getInt(100); at + 8 <= 65536; ) {
      int type = b.getInt(at);
      int length = b.getInt(at + 4);
      if (type == 0x23852875) {
        return b.getLong(at + 8 + 16);
      }
      if (type == 0) {
        break;
      }
      at += 8 + (length + 7) / 8 * 8;
    }
    throw new IllegalStateException("no bitmaps extension in " + image);
  }

  /** Sets the 16-bit refcount of {@code cluster} in the first refcount block. */
  private static void setRefcount(Path image, long cluster, int refcount) throws IOException {
    long block = u64(image, u64(image, 48));
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(2).putShort(0, (short) refcount), block + 2 * cluster);
    }
  }

  private static byte[] cluster(Path image, long cluster) throws IOException {
    return read(image, cluster << 16, 65536).array();
  }

  private static long u64(Path image, long at) throws IOException {
    return read(image, at, 8).getLong(0);
  }

  private static ByteBuffer read(Path image, long at, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    try (FileChannel ch = FileChannel.open(image)) {
      ch.read(b, at);
    }
    return b;
  }
}
