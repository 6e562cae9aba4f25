package dev.vdisk.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What every {@link BlockDevice} must do, checked through the guard every stack has on top
 * ({@link CheckedDevice}) against a byte-array reference model. Subclasses supply fresh, zero-filled
 * devices; a device that is already guarded is used as it is.
 */
public abstract class BlockDeviceContractTest {
  /** Size of the devices under test: big enough for every request size below, small enough for memory. */
  protected static final int SIZE = 32 << 20;

  protected BlockDevice device;

  /** A fresh device of {@code size} bytes that reads as zeroes. */
  protected abstract BlockDevice newDevice(long size) throws IOException;

  @BeforeEach
  void openDevice() throws IOException {
    BlockDevice d = newDevice(SIZE);
    device = d instanceof CheckedDevice ? d : new CheckedDevice(d);
  }

  @AfterEach
  void closeDevice() throws IOException {
    device.close();
  }

  @Test
  void reportsItsSize() throws IOException {
    assertThat(device.size()).isEqualTo(SIZE);
  }

  @Test
  void freshDeviceReadsZeroes() throws IOException {
    byte[] got = read(SIZE - (1 << 20) - 5, (1 << 20) + 5);
    assertThat(got).containsOnly(0);
  }

  @Test
  void tinyAndLargeRequestsRoundTrip() throws IOException {
    long[][] cases = {{0, 1}, {1, 1}, {511, 2}, {4095, 4098}, {12345, 511}, {65536, 65536}, {(1 << 20) + 7, (4 << 20) + 13},
        {SIZE - 1, 1}, {SIZE - 8192, 8192}, {3 << 20, 17 << 20}};
    Random rnd = new Random(1);
    for (long[] c : cases) {
      byte[] data = new byte[(int) c[1]];
      rnd.nextBytes(data);
      write(c[0], data);
      assertThat(read(c[0], data.length)).as("offset %d length %d", c[0], c[1]).isEqualTo(data);
    }
  }

  @Test
  void directAndHeapBuffersBothWork() throws IOException {
    ByteBuffer direct = ByteBuffer.allocateDirect(10000);
    for (int i = 0; i < direct.capacity(); i++) {
      direct.put(i, (byte) (i * 7));
    }
    device.write(777, direct, Set.of());
    assertThat(direct.hasRemaining()).as("write consumes the buffer").isFalse();
    ByteBuffer back = ByteBuffer.allocateDirect(10000);
    device.read(777, back);
    assertThat(back.hasRemaining()).as("read fills the buffer").isFalse();
    assertThat(back.flip()).isEqualTo(direct.flip());
  }

  @Test
  void randomOperationsMatchTheModel() throws IOException {
    Model model = new Model(SIZE);
    Random rnd = new Random(42);
    for (int i = 0; i < 400; i++) {
      long off = rnd.nextInt(SIZE - 1);
      int max = (int) Math.min(SIZE - off, rnd.nextBoolean() ? 9000 : 300_000);
      int len = 1 + rnd.nextInt(max);
      switch (rnd.nextInt(7)) {
        case 0, 1, 2 -> {
          byte[] data = new byte[len];
          rnd.nextBytes(data);
          Set<WriteFlag> flags = rnd.nextInt(4) == 0 ? EnumSet.of(WriteFlag.FUA) : Set.of();
          device.write(off, ByteBuffer.wrap(data), flags);
          model.write(off, data);
        }
        case 3 -> {
          Set<WriteFlag> flags = rnd.nextBoolean() ? EnumSet.of(WriteFlag.MAY_TRIM) : EnumSet.noneOf(WriteFlag.class);
          device.writeZeroes(off, len, flags);
          model.zero(off, len);
        }
        case 4 -> {
          device.discard(off, len);
          model.forget(off, len);
        }
        case 5 -> device.flush();
        default -> model.check(off, read(off, len));
      }
    }
    model.check(0, read(0, SIZE));
    checkExtentsAgreeWithData(0, SIZE);
  }

  @Test
  void zeroesReadAsZeroesWithAndWithoutTrim() throws IOException {
    byte[] ones = new byte[3 << 20];
    java.util.Arrays.fill(ones, (byte) 1);
    write(0, ones);
    device.writeZeroes(100, 1 << 20, Set.of());
    device.writeZeroes((1 << 20) + 100, 1 << 20, EnumSet.of(WriteFlag.MAY_TRIM));
    byte[] got = read(0, ones.length);
    for (int i = 0; i < got.length; i++) {
      boolean zeroed = i >= 100 && i < (2 << 20) + 100;
      if (got[i] != (zeroed ? 0 : 1)) {
        throw new AssertionError("byte " + i + " is " + got[i] + " (expected " + (zeroed ? 0 : 1) + ")");
      }
    }
  }

  @Test
  void extentsCoverTheRangeContiguously() throws IOException {
    write(1 << 20, new byte[] {1, 2, 3});
    write(5 << 20, new byte[70000]);
    checkExtentsAgreeWithData(0, SIZE);
    checkExtentsAgreeWithData(12345, 3 << 20);
  }

  @Test
  void concurrentWritersToNeighbouringBytesLoseNothing() throws Exception {
    int threads = 8;
    int rounds = 200;
    // Each thread owns every 8th 100-byte slot, so writers share 4 KiB blocks but never bytes.
    byte[] expected = new byte[threads * 100 * 64];
    try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int id = t;
        done.add(pool.submit(() -> {
          Random rnd = new Random(id);
          for (int r = 0; r < rounds; r++) {
            int slot = rnd.nextInt(64) * threads + id;
            byte[] data = new byte[100];
            rnd.nextBytes(data);
            device.write(333 + slot * 100L, ByteBuffer.wrap(data), Set.of());
            synchronized (expected) {
              System.arraycopy(data, 0, expected, slot * 100, 100);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    }
    assertThat(read(333, expected.length)).isEqualTo(expected);
  }

  @Test
  void requestsBeyondTheEndAreRejected() throws IOException {
    assertError(() -> device.read(SIZE - 1, ByteBuffer.allocate(2)), BlockError.EINVAL);
    assertError(() -> device.write(SIZE, ByteBuffer.allocate(1), Set.of()), BlockError.ENOSPC);
    assertError(() -> device.writeZeroes(SIZE - 10, 11, Set.of()), BlockError.ENOSPC);
    assertError(() -> device.discard(-1, 10), BlockError.EINVAL);
    assertError(() -> device.read(Long.MAX_VALUE, ByteBuffer.allocate(1)), BlockError.EINVAL);
    assertError(() -> device.write(0, ByteBuffer.allocate(1), EnumSet.of(WriteFlag.MAY_TRIM)), BlockError.EINVAL);
    assertThat(read(SIZE - 1, 1)).containsOnly(0);
  }

  @Test
  void flushAndFuaSucceed() throws IOException {
    device.write(4096, ByteBuffer.wrap(new byte[] {9}), EnumSet.of(WriteFlag.FUA));
    device.flush();
    assertThat(read(4096, 1)).containsExactly(9);
  }

  @Test
  void closedDeviceRefusesRequests() throws IOException {
    device.close();
    assertError(() -> device.read(0, ByteBuffer.allocate(1)), BlockError.ESHUTDOWN);
    device.close();
  }

  private void checkExtentsAgreeWithData(long offset, long length) throws IOException {
    long pos = offset;
    long end = offset + length;
    while (pos < end) {
      List<Extent> extents = device.extents(pos, end - pos);
      assertThat(extents).isNotEmpty();
      for (Extent e : extents) {
        assertThat(e.offset()).isEqualTo(pos);
        assertThat(e.end()).isLessThanOrEqualTo(end);
        if (e.zero() && e.length() <= (8 << 20)) {
          assertThat(read(e.offset(), (int) e.length())).as("zero extent %s", e).containsOnly(0);
        }
        pos = e.end();
      }
    }
  }

  protected final byte[] read(long offset, int length) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(length);
    device.read(offset, buf);
    return buf.array();
  }

  protected final void write(long offset, byte[] data) throws IOException {
    device.write(offset, ByteBuffer.wrap(data), Set.of());
  }

  private static void assertError(ThrowingRunnable r, BlockError error) {
    assertThatThrownBy(r::run).isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(error));
  }

  @FunctionalInterface
  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  /** The expected contents; discarded bytes are unknown and not checked until written again. */
  private static final class Model {
    private final byte[] bytes;
    private final BitSet unknown = new BitSet();

    Model(int size) {
      bytes = new byte[size];
    }

    void write(long off, byte[] data) {
      System.arraycopy(data, 0, bytes, (int) off, data.length);
      unknown.clear((int) off, (int) off + data.length);
    }

    void zero(long off, int len) {
      java.util.Arrays.fill(bytes, (int) off, (int) off + len, (byte) 0);
      unknown.clear((int) off, (int) off + len);
    }

    void forget(long off, int len) {
      unknown.set((int) off, (int) off + len);
    }

    void check(long off, byte[] got) {
      for (int i = 0; i < got.length; i++) {
        int at = (int) off + i;
        if (!unknown.get(at) && got[i] != bytes[at]) {
          throw new AssertionError("byte at offset " + at + " is " + got[i] + " (expected " + bytes[at] + ")");
        }
      }
    }
  }
}
