package dev.vdisk.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CheckedDeviceTest {

  private static FilterDevice withCapabilities(BlockDevice next, Capabilities caps) {
    return new FilterDevice(next) {
      @Override
      public Capabilities capabilities() {
        return caps;
      }
    };
  }

  @Test
  void readOnlyRefusesEveryChangeWithEperm() throws Exception {
    MemoryDevice mem = new MemoryDevice(1 << 20);
    CheckedDevice dev = new CheckedDevice(mem, true);
    assertThat(dev.capabilities().readOnly()).isTrue();
    for (var op : List.<ThrowingRunnable>of(
        () -> dev.write(0, ByteBuffer.allocate(1), Set.of()),
        () -> dev.writeZeroes(0, 1, Set.of()),
        () -> dev.discard(0, 1),
        () -> dev.resize(10))) {
      assertThatThrownBy(op::run).isInstanceOfSatisfying(BlockDeviceException.class,
          e -> assertThat(e.error()).isEqualTo(BlockError.EPERM));
    }
    assertThat(mem.allocatedBytes()).isZero();
  }

  @Test
  void fuaIsEmulatedByAFlushAfterTheWrite() throws Exception {
    CountingFilter count = new CountingFilter(new MemoryDevice(1 << 20));
    CheckedDevice dev = new CheckedDevice(withCapabilities(count, Capabilities.ALL_NATIVE.withFua(Support.NONE)));
    assertThat(dev.capabilities().fua()).isEqualTo(Support.EMULATED);
    dev.write(0, ByteBuffer.allocate(512), EnumSet.of(WriteFlag.FUA));
    dev.writeZeroes(0, 512, EnumSet.of(WriteFlag.FUA));
    assertThat(count.fuaWrites()).isZero();
    assertThat(count.flushes()).isEqualTo(2);
    dev.write(0, ByteBuffer.allocate(512), Set.of());
    assertThat(count.flushes()).isEqualTo(2);
  }

  @Test
  void nativeFuaPassesThroughWithoutFlush() throws Exception {
    CountingFilter count = new CountingFilter(new MemoryDevice(1 << 20));
    CheckedDevice dev = new CheckedDevice(count);
    dev.write(0, ByteBuffer.allocate(512), EnumSet.of(WriteFlag.FUA));
    assertThat(count.fuaWrites()).isEqualTo(1);
    assertThat(count.flushes()).isZero();
  }

  @Test
  void fastZeroIsRefusedWhenTheLayerCannotZeroCheaply() throws Exception {
    MemoryDevice mem = new MemoryDevice(1 << 20);
    mem.write(0, ByteBuffer.wrap(new byte[] {7}), Set.of());
    CheckedDevice dev = new CheckedDevice(withCapabilities(mem, Capabilities.ALL_NATIVE.withWriteZeroes(Support.NONE, Support.NONE)));
    assertThat(dev.capabilities().writeZeroes()).isEqualTo(Support.EMULATED);
    assertThatThrownBy(() -> dev.writeZeroes(0, 4096, EnumSet.of(WriteFlag.FAST_ZERO)))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.ENOTSUP));
    ByteBuffer b = ByteBuffer.allocate(1);
    dev.read(0, b);
    assertThat(b.get(0)).as("a refused fast zero changes nothing").isEqualTo((byte) 7);
  }

  @Test
  void misalignedRequestsForAnAlignedLayerAreRejected() throws Exception {
    FilterDevice aligned = new FilterDevice(new MemoryDevice(1 << 20)) {
      @Override
      public BlockLimits limits() {
        return new BlockLimits(512, 1 << 20, 512, 512);
      }
    };
    CheckedDevice dev = new CheckedDevice(aligned);
    assertThatThrownBy(() -> dev.read(100, ByteBuffer.allocate(512)))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> {
          assertThat(e.error()).isEqualTo(BlockError.EINVAL);
          assertThat(e.getMessage()).contains("offset 100").contains("expected: multiples of 512");
        });
    dev.read(512, ByteBuffer.allocate(512));
  }

  @Test
  void extentsFromABrokenLayerAreCaughtNotPassedOn() throws Exception {
    FilterDevice broken = new FilterDevice(new MemoryDevice(1 << 20)) {
      @Override
      public List<Extent> extents(long offset, long length) {
        return List.of(Extent.data(offset, 10, 0), Extent.data(offset + 20, 10, 20));
      }
    };
    CheckedDevice dev = new CheckedDevice(broken);
    assertThatThrownBy(() -> dev.extents(0, 4096))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EIO));
  }

  @Test
  void extentsAreClippedAndMerged() throws Exception {
    FilterDevice chunky = new FilterDevice(new MemoryDevice(1 << 20)) {
      @Override
      public List<Extent> extents(long offset, long length) {
        return List.of(Extent.zero(offset, 100, offset), Extent.zero(offset + 100, 1 << 20, offset + 100));
      }
    };
    assertThat(new CheckedDevice(chunky).extents(0, 4096)).containsExactly(Extent.zero(0, 4096, 0));
  }

  @Test
  void messagesNameTheValueAndTheExpectation() {
    CheckedDevice dev = new CheckedDevice(new MemoryDevice(4096));
    assertThatThrownBy(() -> dev.read(4000, ByteBuffer.allocate(100)))
        .hasMessage("read: offset 4000 length 100 ends beyond the device (expected: end <= size 4096)");
  }

  @Test
  void stackPrintsAsTheStack() {
    assertThat(new CheckedDevice(new CountingFilter(new MemoryDevice(4096))))
        .hasToString("Checked(Counting(MemoryDevice[4096]))");
  }

  @FunctionalInterface
  interface ThrowingRunnable {
    void run() throws Exception;
  }

  /** A layer that takes COMPRESSED writes in units of {@code unit} and records the writes it receives. */
  private static FilterDevice compressing(BlockDevice next, int unit, List<String> seen) {
    return new FilterDevice(next) {
      @Override
      public Capabilities capabilities() {
        return Capabilities.ALL_NATIVE.withCompressedWrites(Support.NATIVE);
      }

      @Override
      public BlockLimits limits() {
        return new BlockLimits(1, 3 * unit, 1, 1, unit);
      }

      @Override
      public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws java.io.IOException {
        seen.add(offset + "+" + src.remaining() + flags);
        super.write(offset, src, flags);
      }
    };
  }

  @Test
  void compressedWritesOnlyWhereTheLayerBelowTakesThem() throws Exception {
    CheckedDevice plain = new CheckedDevice(new MemoryDevice(1 << 20));
    assertThat(plain.capabilities().compressedWrites()).isEqualTo(Support.NONE);
    assertThat(plain.limits().compressionUnit()).isZero();
    assertThatThrownBy(() -> plain.write(0, ByteBuffer.allocate(65536), EnumSet.of(WriteFlag.COMPRESSED)))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EINVAL))
        .hasMessageContaining("expected: a subset of [FUA]");
    assertThatThrownBy(() -> plain.writeZeroes(0, 512, EnumSet.of(WriteFlag.COMPRESSED)))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EINVAL));
  }

  @Test
  void compressedWritesTakeWholeUnitsAndAreSplitOnUnitBoundaries() throws Exception {
    List<String> seen = new java.util.ArrayList<>();
    int unit = 4096;
    long size = 10 * unit + 1000;
    CheckedDevice dev = new CheckedDevice(compressing(new MemoryDevice(size), unit, seen));
    assertThat(dev.capabilities().compressedWrites()).isEqualTo(Support.NATIVE);
    assertThat(dev.limits().compressionUnit()).isEqualTo(unit);
    Set<WriteFlag> c = EnumSet.of(WriteFlag.COMPRESSED);
    for (long[] bad : new long[][] {{512, unit}, {0, unit + 512}, {unit, 100}, {9 * unit, unit + 500}}) {
      assertThatThrownBy(() -> dev.write(bad[0], ByteBuffer.allocate((int) bad[1]), c))
          .as("offset %d length %d", bad[0], bad[1])
          .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EINVAL))
          .hasMessageContaining("expected: whole units of 4096 bytes");
    }
    assertThat(seen).isEmpty();
    dev.write(0, ByteBuffer.allocate(4 * unit), c);
    dev.write(10 * unit, ByteBuffer.allocate(1000), c);
    assertThat(seen).containsExactly("0+12288[COMPRESSED]", "12288+4096[COMPRESSED]", "40960+1000[COMPRESSED]");
  }
}
