package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.Bitmap;
import dev.vdisk.format.BitmapEdit;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persistent dirty bitmaps through the public API: {@link Image#editBitmap} as qemu-img bitmap, {@link Image#bitmaps}
 * as qemu-img info lists them, {@link Image#bitmapRuns} as qemu-nbd -B exports them. (BitmapInteropIT and
 * BitmapCommandInteropIT hold the same operations to QEMU through the CLI.)
 */
class ImageBitmapsTest {
  @TempDir Path dir;

  @Test
  void addedBitmapsTrackWritesAndAreStoredAtClose() throws IOException {
    Path path = dir.resolve("a.qcow2");
    Vdisk.create(path, 4L << 20, CreateOptions.qcow2().build(), false);
    try (Image image = Vdisk.open(path, OpenOptions.builder().format("qcow2").build())) {
      assertThat(image.supportsBitmaps()).isTrue();
      image.editBitmap("b1", BitmapEdit.add(65536));
      image.editBitmap("b2", BitmapEdit.add(0));
      image.editBitmap("b2", BitmapEdit.of(BitmapEdit.Op.DISABLE));
      image.write(1 << 20, ByteBuffer.allocate(4096), Set.of());
      assertThat(image.bitmapRuns("b1").runs(0, 4L << 20)).containsExactly(
          new long[] {0, 1 << 20, 0}, new long[] {1 << 20, 65536, 1}, new long[] {(1 << 20) + 65536, (3L << 20) - 65536, 0});
      assertThat(image.bitmapRuns("b2").runs(0, 4L << 20)).containsExactly(new long[] {0, 4L << 20, 0});
    }
    try (Image image = Vdisk.open(path, OpenOptions.builder().readOnly(true).build())) {
      assertThat(image.bitmaps()).containsExactly(new Bitmap("b1", 65536, false, true),
          new Bitmap("b2", 65536, false, false));
      assertThat(image.bitmapRuns("b1").runs(1 << 20, 4096)).containsExactly(new long[] {1 << 20, 4096, 1});
      assertThatThrownBy(() -> image.bitmapRuns("b3")).isInstanceOfSatisfying(BlockDeviceException.class,
          e -> assertThat(e.error()).isEqualTo(BlockError.EINVAL)).hasMessage("Bitmap 'b3' is not found");
    }
  }

  @Test
  void aRawImageHasNoBitmapsAndRefusesToStoreOne() throws IOException {
    Path path = dir.resolve("a.raw");
    Vdisk.create(path, 1 << 20, CreateOptions.raw(), false);
    try (Image image = Vdisk.open(path, OpenOptions.builder().format("raw").build())) {
      assertThat(image.supportsBitmaps()).isFalse();
      assertThat(image.bitmaps()).isEqualTo(List.of());
      assertThatThrownBy(() -> image.editBitmap("b1", BitmapEdit.add(0)))
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.ENOTSUP));
    }
  }

  @Test
  void aMergeNeedsItsSourceBitmap() {
    assertThatThrownBy(() -> BitmapEdit.merge(null, null)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("merge");
  }
}
