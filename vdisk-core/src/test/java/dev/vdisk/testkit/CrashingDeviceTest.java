package dev.vdisk.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class CrashingDeviceTest {
  private static final int SIZE = 1 << 20;

  private static void fill(BlockDevice d, long at, int length, int value, Set<WriteFlag> flags) throws Exception {
    byte[] b = new byte[length];
    Arrays.fill(b, (byte) value);
    d.write(at, ByteBuffer.wrap(b), flags);
  }

  private static byte[] read(BlockDevice d, long at, int length) throws Exception {
    ByteBuffer b = ByteBuffer.allocate(length);
    d.read(at, b);
    return b.array();
  }

  /** What byte values of the range survived, over many crashes at {@code point}. */
  private static Set<String> outcomes(CrashingDevice d, int point, long at, int length, CrashingDevice.Tearing t)
      throws Exception {
    Set<String> seen = new HashSet<>();
    Random random = new Random(7);
    for (int i = 0; i < 200; i++) {
      seen.add(Arrays.toString(read(d.crash(point, random, t), at, length)));
    }
    return seen;
  }

  @Test
  void writesBeforeACompletedFlushAlwaysSurvive() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    fill(d, 0, 4096, 1, Set.of());
    d.flush();
    fill(d, 8192, 4096, 2, Set.of());
    for (int point = 2; point <= d.historyLength(); point++) {
      assertThat(outcomes(d, point, 0, 4096, CrashingDevice.Tearing.SECTORS)).containsExactly(
          Arrays.toString(filled(4096, 1)));
    }
  }

  @Test
  void unflushedWritesMaySurviveOrBeLost() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    fill(d, 0, 512, 1, Set.of());
    d.flush();
    fill(d, 0, 512, 2, Set.of());
    assertThat(outcomes(d, 3, 0, 512, CrashingDevice.Tearing.NONE))
        .containsExactlyInAnyOrder(Arrays.toString(filled(512, 1)), Arrays.toString(filled(512, 2)));
    assertThat(outcomes(d, 2, 0, 512, CrashingDevice.Tearing.NONE)).containsExactly(Arrays.toString(filled(512, 1)));
    assertThat(outcomes(d, 0, 0, 512, CrashingDevice.Tearing.NONE)).containsExactly(Arrays.toString(filled(512, 0)));
  }

  @Test
  void aFlushCoversOnlyWhatCameBeforeIt() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    fill(d, 0, 512, 1, Set.of());
    d.flush();
    // The point after the write but before a second flush: the write is not yet covered.
    assertThat(outcomes(d, 1, 0, 512, CrashingDevice.Tearing.NONE)).hasSize(2);
  }

  @Test
  void fuaWritesSurviveWithoutAFlush() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    fill(d, 0, 4096, 5, Set.of(WriteFlag.FUA));
    d.writeZeroes(0, 512, Set.of(WriteFlag.FUA));
    byte[] expected = filled(4096, 5);
    Arrays.fill(expected, 0, 512, (byte) 0);
    assertThat(outcomes(d, 2, 0, 4096, CrashingDevice.Tearing.SECTORS)).containsExactly(Arrays.toString(expected));
  }

  @Test
  void sectorTearingKeepsAnySubsetOfSectors() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    fill(d, 0, 1024, 3, Set.of());
    Set<String> torn = outcomes(d, 1, 0, 1024, CrashingDevice.Tearing.SECTORS);
    byte[] firstOnly = new byte[1024];
    Arrays.fill(firstOnly, 0, 512, (byte) 3);
    byte[] secondOnly = new byte[1024];
    Arrays.fill(secondOnly, 512, 1024, (byte) 3);
    assertThat(torn).containsExactlyInAnyOrder(Arrays.toString(new byte[1024]), Arrays.toString(filled(1024, 3)),
        Arrays.toString(firstOnly), Arrays.toString(secondOnly));
    assertThat(outcomes(d, 1, 0, 1024, CrashingDevice.Tearing.NONE)).hasSize(2);
  }

  @Test
  void survivorsLandInTheirRecordedOrder() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    fill(d, 0, 512, 1, Set.of());
    fill(d, 0, 512, 2, Set.of());
    // Never "1 over 2": that would need the older write to reach the disk after the newer one.
    assertThat(outcomes(d, 2, 0, 512, CrashingDevice.Tearing.NONE)).containsExactlyInAnyOrder(
        Arrays.toString(filled(512, 0)), Arrays.toString(filled(512, 1)), Arrays.toString(filled(512, 2)));
  }

  @Test
  void resizesAreChangesLikeWrites() throws Exception {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    d.resize(2 * SIZE);
    d.flush();
    d.resize(3 * SIZE);
    Set<Long> sizes = new HashSet<>();
    Random random = new Random(1);
    for (int i = 0; i < 50; i++) {
      sizes.add(d.crash(3, random, CrashingDevice.Tearing.NONE).size());
    }
    assertThat(sizes).containsExactlyInAnyOrder(2L * SIZE, 3L * SIZE);
  }

  @Test
  void readsSeeEveryChangeAndTheStartIsCopied() throws Exception {
    MemoryDevice start = new MemoryDevice(SIZE);
    fill(start, 0, 512, 9, Set.of());
    CrashingDevice d = new CrashingDevice(start);
    fill(start, 0, 512, 8, Set.of());
    fill(d, 512, 512, 7, Set.of());
    assertThat(read(d, 0, 1)[0]).isEqualTo((byte) 9);
    assertThat(read(d, 512, 1)[0]).isEqualTo((byte) 7);
    assertThat(read(d.crash(0, new Random(), CrashingDevice.Tearing.NONE), 0, 1)[0]).isEqualTo((byte) 9);
  }

  @Test
  void crashPointsOutsideTheHistoryAreRefused() {
    CrashingDevice d = new CrashingDevice(new MemoryDevice(SIZE));
    d.flush();
    assertThatThrownBy(() -> d.crash(2, new Random(), CrashingDevice.Tearing.NONE))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expected: 0 to 1");
  }

  private static byte[] filled(int length, int value) {
    byte[] b = new byte[length];
    Arrays.fill(b, (byte) value);
    return b;
  }

  /** It is a BlockDevice like any other while the power stays on. */
  @Nested
  class Contract extends BlockDeviceContractTest {
    @Override
    protected BlockDevice newDevice(long size) {
      return new CrashingDevice(new MemoryDevice(size));
    }
  }
}
