package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A qcow2 image opened through the public API on devices that are not host files: memory and the crash simulator. */
class ImageOnAnyDeviceTest {
  private static final Path NAME = Path.of("mem.qcow2");
  private static final long SIZE = 16L << 20;

  @TempDir Path dir;

  @Test
  void qcow2OnAMemoryDeviceIsWrittenReadAndMapped() throws IOException {
    MemoryDevice mem = newImage(CreateOptions.qcow2().clusterSize(4096).build());
    try (Image image = Vdisk.open(mem, ImageContext.standalone(NAME, false), OpenOptions.builder().format("qcow2").build())) {
      image.write(1 << 20, pattern(0x5a, 8192), Set.of());
      image.flush();
      assertThat(read(image, 1 << 20, 8192)).containsOnly(0x5a);
      assertThat(image.info().clusterSize()).hasValue(4096);
      assertThat(image.info().actualSize()).isEmpty();
      List<BlockStatus> data = new ArrayList<>();
      image.map(0, -1, e -> {
        if (e.data()) {
          data.add(e);
        }
      });
      assertThat(data).singleElement().satisfies(e -> {
        assertThat(e.offset()).isEqualTo(1 << 20);
        assertThat(e.length()).isEqualTo(8192);
        assertThat(e.hasOffset()).isTrue();
      });
    }
    assertClean(mem);
  }

  @Test
  void qcow2OnTheCrashSimulatorKeepsFlushedWritesAndLeaksAtWorst() throws IOException {
    CrashingDevice disk = new CrashingDevice(newImage(CreateOptions.qcow2().build()));
    Image image = Vdisk.open(disk, ImageContext.standalone(NAME, false), OpenOptions.builder().format("qcow2").build());
    image.write(0, pattern(0x11, 65536), Set.of());
    image.flush();
    image.write(4 << 20, pattern(0x22, 65536), Set.of());
    // Power fails before the second write is flushed, and before the image is closed.
    MemoryDevice after = disk.crash(disk.historyLength(), new Random(15), CrashingDevice.Tearing.SECTORS);
    assertClean(after);
    try (Image reopened = Vdisk.open(after, ImageContext.standalone(NAME, true),
        OpenOptions.builder().format("qcow2").readOnly(true).build())) {
      assertThat(read(reopened, 0, 65536)).containsOnly(0x11);
    }
  }

  @Test
  void aBackingFileNeedsAContextThatOpensIt() throws IOException {
    MemoryDevice mem = newImage(CreateOptions.qcow2().backing("base.qcow2", "qcow2").build());
    assertThatThrownBy(() -> Vdisk.open(mem, ImageContext.standalone(NAME, true),
        OpenOptions.builder().format("qcow2").readOnly(true).build()))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.ENOTSUP))
        .hasMessageContaining("backing file 'base.qcow2' of mem.qcow2: not available");
  }

  /** A new image made by {@link Vdisk#create}, copied into memory. */
  private MemoryDevice newImage(CreateOptions options) throws IOException {
    Path file = dir.resolve("new.qcow2");
    Files.deleteIfExists(file);
    Vdisk.create(file, SIZE, options, false);
    byte[] bytes = Files.readAllBytes(file);
    MemoryDevice mem = new MemoryDevice(bytes.length);
    mem.write(0, ByteBuffer.wrap(bytes), Set.of());
    return mem;
  }

  /** vdisk's check of the image in {@code device}: no corruptions, no check errors (leaks are allowed). */
  private static void assertClean(BlockDevice device) throws IOException {
    List<CheckProblem> problems = new ArrayList<>();
    CheckResult r = FormatRegistry.byName("qcow2").check(device, NAME, problems::add);
    assertThat(r.corruptions()).as("corruptions: %s", problems).isZero();
    assertThat(r.checkErrors()).as("check errors: %s", problems).isZero();
  }

  private static ByteBuffer pattern(int value, int length) {
    byte[] b = new byte[length];
    Arrays.fill(b, (byte) value);
    return ByteBuffer.wrap(b);
  }

  private static byte[] read(BlockDevice device, long offset, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    device.read(offset, b);
    return b.array();
  }
}
