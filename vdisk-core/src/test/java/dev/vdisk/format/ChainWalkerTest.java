package dev.vdisk.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The three walks of {@link ChainWalker} over one chain: a 1 MiB qcow2 with data at 128 KiB over a 256 KiB raw
 * backing file with data at 0. They differ where QEMU's walks differ: past the shorter backing file, and where the
 * top leaves a range to its backing file. (qemu-img agrees with each: MapInfoInteropIT, ConvertCompareInteropIT,
 * ChainsInteropIT.)
 */
class ChainWalkerTest {
  private static final int K = 1024;

  @TempDir Path dir;
  private Path top;

  @BeforeEach
  void chain() throws IOException {
    Path base = dir.resolve("base.raw");
    Vdisk.create(base, 256 * K, CreateOptions.raw(), false);
    try (Image image = Vdisk.open(base, OpenOptions.builder().format("raw").build())) {
      image.write(0, filled(64 * K, 0x11), Set.of());
    }
    top = dir.resolve("top.qcow2");
    Vdisk.create(top, 1024 * K, CreateOptions.qcow2().clusterSize(64 * K).backing("base.raw", "raw").build(), false);
    try (Image image = Vdisk.open(top, OpenOptions.builder().format("qcow2").build())) {
      image.write(128 * K, filled(64 * K, 0x22), Set.of());
    }
  }

  @Test
  void layersWalksAsQemuImgMapPastTheBackingFileUnallocatedAtTheLayerAbove() throws IOException {
    assertThat(walk(ChainWalker.Mode.LAYERS)).containsExactly(
        "0+64 depth 1 allocated data",
        "64+64 depth 1 allocated zero",
        "128+64 depth 0 allocated data",
        "192+64 depth 1 allocated zero",
        "256+768 depth 0 zero eof");
  }

  @Test
  void aboveWalksAsBlockStatusAbovePastTheBackingFileAllocatedZeroes() throws IOException {
    assertThat(walk(ChainWalker.Mode.ABOVE)).containsExactly(
        "0+64 depth 1 allocated data",
        "64+64 depth 1 allocated zero",
        "128+64 depth 0 allocated data",
        "192+64 depth 1 allocated zero",
        "256+768 depth 0 allocated zero eof");
  }

  @Test
  void topStopsAtTheTopLayerWhatItLeavesToTheBackingFileIsNeitherAllocatedNorZero() throws IOException {
    assertThat(walk(ChainWalker.Mode.TOP)).containsExactly(
        "0+128 depth 0",
        "128+64 depth 0 allocated data",
        "192+64 depth 0",
        "256+768 depth 0 allocated zero eof");
  }

  @Test
  void aRangeWalkEndsAtItsEndAndAnswersInsideTheLastRunWithoutAskingAgain() throws IOException {
    try (Image image = Vdisk.open(top, OpenOptions.builder().readOnly(true).build())) {
      ChainWalker walker = image.status(ChainWalker.Mode.LAYERS, 16 * K, 160 * K);
      BlockStatus first = walker.at(16 * K);
      assertThat(first.offset()).isEqualTo(16 * K);
      assertThat(first.end()).isEqualTo(64 * K);
      assertThat(walker.at(32 * K)).isEqualTo(first.from(32 * K));
      assertThat(walker.at(128 * K).end()).isEqualTo(160 * K);
      assertThatThrownBy(() -> walker.at(160 * K)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> walker.at(0)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  /**
   * Over a qcow2 image of 512-byte clusters (an L2 table covers 32 KiB: QEMU's runs end there), the walk asks for one
   * table's coverage first and twice as much each time after, and its runs still end at every table's end and at
   * the data's edges: a copy's first run waits for one L2 table, not all of them.
   */
  @Test
  void aboveAsksOneL2TableFirstThenTwiceAsMuchAndItsRunsStillEndAtEveryTable() throws IOException {
    Path small = dir.resolve("small-clusters.qcow2");
    Vdisk.create(small, 1024 * K, CreateOptions.qcow2().clusterSize(512).build(), false);
    try (Image image = Vdisk.open(small, OpenOptions.builder().format("qcow2").build())) {
      image.write(40 * K, filled(8 * K, 0x33), Set.of());
      image.write(300 * K, filled(40 * K, 0x44), Set.of());
    }
    List<String> queries = new ArrayList<>();
    List<String> runs = new ArrayList<>();
    try (Image image = Vdisk.open(small, OpenOptions.builder().readOnly(true).build())) {
      BlockDevice recorded = new FilterDevice(image) {
        @Override
        public List<Extent> extents(long offset, long length) throws IOException {
          queries.add(offset / K + "+" + length / K);
          return next.extents(offset, length);
        }
      };
      ChainWalker walker = ChainWalker.of(recorded, ChainWalker.Mode.ABOVE);
      for (long pos = 0; pos < image.size(); ) {
        BlockStatus s = walker.at(pos);
        if (s.data()) {
          runs.add(s.offset() / K + "+" + s.length() / K);
        } else {
          assertThat(s.end() % (32 * K) == 0 || s.end() == 40 * K || s.end() == 300 * K).as("zero run %s", s).isTrue();
          assertThat(s.offset() / (32 * K)).as("zero run %s", s).isEqualTo((s.end() - 1) / (32 * K));
        }
        pos = s.end();
      }
    }
    assertThat(runs).containsExactly("40+8", "300+20", "320+20");
    assertThat(queries).containsExactly("0+32", "32+64", "96+128", "224+256", "480+512", "992+32");
  }

  /** Every run of the walk over the whole top image, in KiB, with the bits that are set. */
  private List<String> walk(ChainWalker.Mode mode) throws IOException {
    List<String> out = new ArrayList<>();
    try (Image image = Vdisk.open(top, OpenOptions.builder().readOnly(true).build())) {
      ChainWalker walker = image.status(mode, 0, image.size());
      for (long pos = 0; pos < image.size(); ) {
        BlockStatus s = walker.at(pos);
        out.add(s.offset() / K + "+" + s.length() / K + " depth " + s.depth() + (s.allocated() ? " allocated" : "")
            + (s.zero() ? " zero" : "") + (s.data() ? " data" : "") + (s.eof() ? " eof" : ""));
        pos = s.end();
      }
    }
    return out;
  }

  private static ByteBuffer filled(int length, int value) {
    byte[] b = new byte[length];
    Arrays.fill(b, (byte) value);
    return ByteBuffer.wrap(b);
  }
}
