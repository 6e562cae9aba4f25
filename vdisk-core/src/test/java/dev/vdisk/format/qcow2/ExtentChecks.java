package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.Extent;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Checks that a qcow2 layer's extents tell the truth about the data it reads. */
final class ExtentChecks {
  private ExtentChecks() {}

  /**
   * Zero extents and holes (of an image without backing) read as zeroes; data extents with a host offset hold
   * the guest's bytes at that offset of {@code hostFile}; the extents tile the disk.
   */
  static void agreeWithData(List<Extent> extents, byte[] disk, Path hostFile) throws IOException {
    long pos = 0;
    try (RandomAccessFile host = new RandomAccessFile(hostFile.toFile(), "r")) {
      for (Extent e : extents) {
        assertThat(e.offset()).as("extents tile the disk").isEqualTo(pos);
        int from = (int) e.offset();
        int to = (int) e.end();
        if (e.zero()) {
          assertThat(isZero(disk, from, to)).as("zero extent %s reads zeroes", e).isTrue();
        }
        if (e.data() && e.hostOffset() != Extent.NO_OFFSET) {
          byte[] stored = new byte[to - from];
          long inFile = Math.clamp(host.length() - e.hostOffset(), 0, stored.length);
          host.seek(e.hostOffset());
          host.readFully(stored, 0, (int) inFile);
          assertThat(Arrays.equals(stored, 0, stored.length, disk, from, to)).as("data extent %s holds the guest bytes", e).isTrue();
        }
        pos = e.end();
      }
    }
    assertThat(pos).isEqualTo(disk.length);
  }

  /** Every byte's present bit, and the host offset of data qemu-img map reports one for, match ours. */
  static void agreeWithQemuMap(List<Extent> extents, String mapJson) {
    for (Object o : (List<?>) Json.parse(mapJson)) {
      Map<?, ?> m = (Map<?, ?>) o;
      long start = (Long) m.get("start");
      long length = (Long) m.get("length");
      boolean present = (Boolean) m.get("present");
      boolean data = (Boolean) m.get("data");
      Long offset = (Long) m.get("offset");
      for (Extent e : extents) {
        long from = Math.max(start, e.offset());
        long to = Math.min(start + length, e.end());
        if (from >= to) {
          continue;
        }
        assertThat(e.present()).as("present at %d..%d: ours %s, qemu %s", from, to, e, m).isEqualTo(present);
        if (data && offset != null) {
          assertThat(e.data()).as("data at %d: ours %s, qemu %s", from, e, m).isTrue();
          assertThat(e.hostOffset() + (from - e.offset())).as("offset at %d: ours %s, qemu %s", from, e, m)
              .isEqualTo(offset + (from - start));
        }
      }
    }
  }

  private static boolean isZero(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
