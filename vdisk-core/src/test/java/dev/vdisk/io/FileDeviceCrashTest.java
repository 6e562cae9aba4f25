package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.Images;
import dev.vdisk.testkit.CrashingDevice;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * FileDevice under the O_DIRECT cache modes, on the crash simulator ({@link SimulatedHostFile}): requests of every
 * alignment (bounced, partial blocks read-modify-written), FUA writes, zeroing and flushes, then a power loss at every
 * point of the history, each torn at 512-byte sectors. Every byte that a flush, a FUA request or (directsync) any
 * acknowledged request made durable reads back, whatever the crash kept of the requests that followed.
 */
class FileDeviceCrashTest {
  private static final int SIZE = 256 << 10;
  private static final int OPS = 150;

  @ParameterizedTest(name = "cache={0}, O_DIRECT alignment {1}")
  @CsvSource({"NONE, 4096", "NONE, 512", "DIRECTSYNC, 4096", "DIRECTSYNC, 512"})
  void everyAcknowledgedDurableWriteSurvivesEveryPowerLoss(String mode, int alignment) throws Exception {
    CacheMode cache = CacheMode.PRESETS.stream().filter(m -> m.name().equalsIgnoreCase(mode)).findFirst().orElseThrow();
    CrashingDevice disk = new CrashingDevice(new MemoryDevice(SIZE));
    BlockDevice dev = new CheckedDevice(Images.applyCacheSwitches(
        SimulatedHostFile.fileDevice(disk, "crash.raw", FileOptions.of(cache, false), alignment), cache));
    Random random = new Random(alignment * 31L + mode.length());
    byte[] now = new byte[SIZE];
    // Durable states: the guest bytes, the history length once durable, and the ranges of requests begun after.
    List<Durable> durable = new ArrayList<>(List.of(new Durable(now.clone(), 0, new ArrayList<>())));
    int acks = 0;
    for (int op = 0; op < OPS; op++) {
      int historyBefore = disk.historyLength();
      int at = random.nextInt(SIZE - 1);
      int len = 1 + random.nextInt(Math.min(SIZE - at, 3 * alignment + 700));
      boolean fua = random.nextInt(6) == 0;
      Set<WriteFlag> flags = fua ? Set.of(WriteFlag.FUA) : Set.of();
      switch (random.nextInt(8)) {
        case 0 -> {
          dev.flush();
          durable.add(new Durable(now.clone(), disk.historyLength(), new ArrayList<>()));
          continue;
        }
        case 1 -> {
          dev.writeZeroes(at, len, flags);
          Arrays.fill(now, at, at + len, (byte) 0);
        }
        default -> {
          byte[] data = new byte[len];
          random.nextBytes(data);
          // Direct buffers at any address too: FileDevice bounces the misaligned ones.
          ByteBuffer src = random.nextBoolean() ? ByteBuffer.wrap(data)
              : ByteBuffer.allocateDirect(len + 7).position(random.nextInt(8)).slice().put(data).flip();
          dev.write(at, src, flags);
          System.arraycopy(data, 0, now, at, len);
        }
      }
      durable.getLast().since().add(new int[] {historyBefore, at, at + len});
      if (fua || cache.writethrough()) {
        durable.add(new Durable(now.clone(), disk.historyLength(), new ArrayList<>()));
        acks++;
      }
    }
    assertThat(acks).as("acknowledged durable requests").isPositive();
    for (int point = 0; point <= disk.historyLength(); point++) {
      Durable state = null;
      for (Durable d : durable) {
        if (d.history() <= point) {
          state = d;
        }
      }
      MemoryDevice crashed = disk.crash(point, new Random(point), CrashingDevice.Tearing.SECTORS);
      byte[] got = new byte[SIZE];
      crashed.read(0, ByteBuffer.wrap(got, 0, (int) Math.min(SIZE, crashed.size())));
      boolean[] unsure = new boolean[SIZE];
      for (int[] r : state.since()) {
        if (r[0] < point) {
          Arrays.fill(unsure, r[1], r[2], true);
        }
      }
      for (int b = 0; b < SIZE; b++) {
        if (!unsure[b] && got[b] != state.bytes()[b]) {
          throw new AssertionError("cache=" + mode + ", alignment " + alignment + ", crash at " + point + " of "
              + disk.historyLength() + ": byte " + b + " reads " + got[b] + ", durable " + state.bytes()[b]);
        }
      }
    }
  }

  /** Guest bytes durable once the disk's history reached {@code history}; {@code since}: later requests' ranges. */
  private record Durable(byte[] bytes, int history, List<int[]> since) {}
}
