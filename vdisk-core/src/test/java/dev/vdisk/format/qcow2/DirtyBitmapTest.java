package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link DirtyBitmap} against a plain array of granules: marks, resizes, merges, runs and the on-disk bit order. */
class DirtyBitmapTest {
  @Test
  void marksResizesAndRunsMatchAPlainModel() {
    Random random = new Random(7);
    for (int round = 0; round < 200; round++) {
      int bits = 9 + random.nextInt(8);
      long size = 1 + random.nextInt(3 << 20);
      DirtyBitmap b = DirtyBitmap.empty(bits, size);
      List<Boolean> model = model(size, bits);
      for (int op = 0; op < 20; op++) {
        if (random.nextInt(6) == 0) {
          long next = 1 + random.nextInt(3 << 20);
          b.resize(next);
          long granules = Math.ceilDiv(next, 1L << bits);
          while (model.size() > granules) {
            model.removeLast();
          }
          while (model.size() < granules) {
            model.add(false);
          }
          size = next;
          continue;
        }
        long at = random.nextLong(size);
        long len = 1 + random.nextLong(Math.min(size - at, 1 << 20));
        b.set(at, len);
        for (long g = at >>> bits; g <= (at + len - 1) >>> bits; g++) {
          model.set((int) g, true);
        }
      }
      assertThat(b.granules()).isEqualTo(model.size());
      for (int g = 0; g < model.size(); g++) {
        assertThat(b.get(g)).as("granule %d", g).isEqualTo(model.get(g));
      }
      long at = random.nextLong(size);
      long len = 1 + random.nextLong(size - at);
      List<long[]> runs = b.runs(at, len);
      long pos = at;
      for (int i = 0; i < runs.size(); i++) {
        long[] r = runs.get(i);
        assertThat(r[0]).isEqualTo(pos);
        if (i > 0) {
          assertThat(r[2]).as("runs alternate").isNotEqualTo(runs.get(i - 1)[2]);
        }
        for (long p = r[0]; p < r[0] + r[1]; p += Math.max(1, r[1] / 7)) {
          assertThat(model.get((int) (p >>> bits))).isEqualTo(r[2] == 1);
        }
        pos += r[1];
      }
      assertThat(pos).as("runs cover the range").isEqualTo(at + len);
    }
  }

  @Test
  void dataClustersHoldGranulesLeastSignificantBitFirst() {
    DirtyBitmap b = DirtyBitmap.empty(16, 1L << 30);
    b.set(0, 1);
    b.set(9L << 16, 1);
    ByteBuffer c = b.cluster(0, 512).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(c.get(0)).isEqualTo((byte) 1);
    assertThat(c.get(1)).isEqualTo((byte) 2);
    assertThat(b.cluster(1, 512)).as("a cluster of zeroes is not stored").isNull();
    assertThat(b.tableSize(512)).isEqualTo(4);
  }

  @Test
  void mergeSetsWhatTheSourceCoversAcrossGranularities() {
    DirtyBitmap coarse = DirtyBitmap.empty(20, 8 << 20);
    coarse.set(3 << 20, 1);
    DirtyBitmap fine = DirtyBitmap.empty(12, 8 << 20);
    fine.merge(coarse);
    assertThat(fine.runs(0, 8 << 20)).extracting(r -> r[0] + "+" + r[1] + "=" + r[2])
        .containsExactly("0+3145728=0", "3145728+1048576=1", "4194304+4194304=0");
    fine.clear();
    assertThat(fine.runs(0, 8 << 20)).hasSize(1);
    assertThat(fine.modified()).isTrue();
  }

  private static List<Boolean> model(long size, int bits) {
    List<Boolean> m = new ArrayList<>();
    for (long g = 0; g < Math.ceilDiv(size, 1L << bits); g++) {
      m.add(false);
    }
    return m;
  }
}
