package dev.vdisk.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.filter.CountingFilter;
import dev.vdisk.block.filter.FilterDevice;
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
}
