package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageInfo;
import dev.vdisk.format.Measurement;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code vdisk info}, {@code map}, {@code measure} and {@code create} compute is reachable through the front
 * door without the CLI: an image created on a {@link MemoryDevice} ({@link Vdisk#create(dev.vdisk.block.BlockDevice,
 * long, CreateOptions)}) gives its info, its merged map and its measurement; measure reads qemu-img's {@code -o}
 * strings as qemu-img measure does; create takes size 0 as qemu-img does. (LibraryFactsInteropIT compares the same
 * facts with qemu-img's JSON.)
 */
class ImageFactsTest {
  private static final long SIZE = 8L << 20;
  private static final int CLUSTER = 4096;
  private static final Path NAME = Path.of("mem.qcow2");

  @TempDir Path dir;

  @Test
  void anImageCreatedInMemoryGivesItsInfoMapAndMeasurement() throws IOException {
    CreateOptions options = CreateOptions.qcow2().clusterSize(CLUSTER).build();
    MemoryDevice mem = new MemoryDevice(1 << 20);
    Vdisk.create(mem, SIZE, options);
    try (Image image = Vdisk.open(mem, ImageContext.standalone(NAME, false),
        OpenOptions.builder().format("qcow2").build())) {
      image.write(1 << 20, ByteBuffer.wrap(new byte[3 * CLUSTER]).put(0, (byte) 7), Set.of());
      image.writeZeroes(2 << 20, CLUSTER, Set.of());
      image.flush();

      ImageInfo info = image.info();
      assertThat(info.format()).isEqualTo("qcow2");
      assertThat(info.filename()).isEqualTo("mem.qcow2");
      assertThat(info.virtualSize()).isEqualTo(SIZE);
      assertThat(info.clusterSize()).hasValue(CLUSTER);
      assertThat(info.actualSize()).as("no host file").isEmpty();
      assertThat(info.backingFilename()).isEmpty();
      assertThat(info.formatSpecific()).containsEntry("compat", "1.1").containsEntry("refcount-bits", 16);
      assertThat(image.backingChain()).containsExactly(info);

      List<BlockStatus> map = new ArrayList<>();
      image.map(0, -1, map::add);
      assertThat(map).extracting(e -> e.offset() + "+" + e.length() + (e.allocated() ? " present" : "")
          + (e.data() ? " data" : "") + (e.zero() ? " zero" : "")).containsExactly(
              "0+1048576 zero", "1048576+12288 present data", "1060864+1036288 zero", "2097152+4096 present zero",
              "2101248+6287360 zero");
      assertThat(map.get(1).hasOffset()).isTrue();
      ChainWalker walker = image.status(ChainWalker.Mode.LAYERS, 0, SIZE);
      assertThat(walker.at(1 << 20).data()).isTrue();

      Measurement empty = Vdisk.measure(options, SIZE);
      Measurement full = Vdisk.measure(options, image);
      assertThat(full.fullyAllocated()).isEqualTo(empty.fullyAllocated());
      assertThat(full.required() - empty.required()).as("the three data clusters").isEqualTo(3 * CLUSTER);
      assertThat(full.bitmaps()).hasValue(0);
      // A device without a format layer counts its own extents.
      MemoryDevice plain = new MemoryDevice(SIZE);
      plain.write(0, ByteBuffer.wrap(new byte[CLUSTER]).put(0, (byte) 1), Set.of());
      assertThat(Vdisk.measure(options, plain).required() - empty.required()).isEqualTo(CLUSTER);
    }
  }

  @Test
  void measureReadsOptionsAsQemuImgMeasureDoes() throws IOException {
    Map<String, String> onlyCreateRefuses = Map.of("compat", "0.10", "lazy_refcounts", "on");
    assertThatThrownBy(() -> CreateOptions.parse("qcow2", onlyCreateRefuses))
        .hasMessageContaining("lazy_refcounts: 'on'");
    CreateOptions measured = CreateOptions.parseForMeasure("qcow2", onlyCreateRefuses);
    assertThat(Vdisk.measure(measured, SIZE))
        .isEqualTo(Vdisk.measure(CreateOptions.qcow2().compat("0.10").build(), SIZE));
    // A backing file counts by its presence: the whole disk is required of a source.
    assertThat(CreateOptions.parseForMeasure("qcow2", Map.of("backing_file", "x", "preallocation", "full")))
        .isEqualTo(CreateOptions.qcow2().preallocation(Preallocation.FULL).backing("x", null).build());
    assertThatThrownBy(() -> CreateOptions.parseForMeasure("qcow2", Map.of("cluster_size", "4k", "extended_l2", "on")))
        .hasMessage("cluster_size: '4k' (expected: at least 16k with extended_l2=on)");
    assertThatThrownBy(() -> CreateOptions.parseForMeasure("qcow2", Map.of("encrypt.format", "luks")))
        .hasMessageContaining("encrypt.format: 'luks' (expected: no encryption");
    assertThatThrownBy(() -> CreateOptions.parseForMeasure("qcow2", Map.of("size_hint", "1")))
        .hasMessageStartingWith("option 'size_hint': not supported by format 'qcow2'");
    assertThat(CreateOptions.parseForMeasure("raw", Map.of("preallocation", "full")))
        .isEqualTo(new CreateOptions.Raw(Preallocation.FULL));
  }

  @Test
  void createTakesSizeZeroAndRefusesNegativeSizesUntouched() throws IOException {
    Path qcow2 = dir.resolve("zero.qcow2");
    Vdisk.create(qcow2, 0, CreateOptions.qcow2().build(), false);
    Path raw = dir.resolve("zero.raw");
    Vdisk.create(raw, 0, CreateOptions.raw(), false);
    assertThat(Files.size(raw)).isZero();
    for (Path p : List.of(qcow2, raw)) {
      try (Image image = Vdisk.open(p, OpenOptions.builder().readOnly(true).build())) {
        assertThat(image.size()).isZero();
        List<BlockStatus> map = new ArrayList<>();
        image.map(0, -1, map::add);
        assertThat(map).singleElement().satisfies(e -> assertThat(e.length()).isZero());
      }
    }
    Path negative = dir.resolve("negative.qcow2");
    assertThatThrownBy(() -> Vdisk.create(negative, -512, CreateOptions.qcow2().build(), false))
        .hasMessage("size: -512 (expected: a byte count >= 0)");
    assertThat(negative).doesNotExist();
    assertThatThrownBy(() -> Vdisk.create(new MemoryDevice(4096), 1 << 20, CreateOptions.raw()))
        .hasMessageContaining("expected: a device at least as large as the image");
  }
}
