package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class Qcow2HeaderTest {
  /** A v3 header as QEMU writes it for a 1 GiB image with 64 KiB clusters and zstd. */
  private static ByteBuffer v3() {
    ByteBuffer b = ByteBuffer.allocate(65536);
    b.putInt(0, Qcow2Header.MAGIC).putInt(4, 3).putInt(20, 16).putLong(24, 1L << 30)
        .putInt(36, 2).putLong(40, 0x30000).putLong(48, 0x10000).putInt(56, 1)
        .putLong(72, Features.INCOMPAT_COMPRESSION).putLong(80, Features.COMPAT_LAZY_REFCOUNTS)
        .putInt(96, 4).putInt(100, 112).put(104, (byte) 1);
    return b;
  }

  @Test
  void parsesEveryVersion3Field() throws Exception {
    Qcow2Header h = Qcow2Header.parse(v3());
    assertThat(h).isEqualTo(new Qcow2Header(3, 0, 0, 16, 1L << 30, 0, 2, 0x30000, 0x10000, 1, 0, 0,
        Features.INCOMPAT_COMPRESSION, Features.COMPAT_LAZY_REFCOUNTS, 0, 4, 112, 1));
    assertThat(CompressionType.of(h)).isEqualTo(CompressionType.ZSTD);
    assertThat(h.refcountBits()).isEqualTo(16);
  }

  @Test
  void version2HasFixedDefaults() throws Exception {
    ByteBuffer b = v3().putInt(4, 2).putLong(72, -1).putInt(96, 9).putInt(100, 7);
    Qcow2Header h = Qcow2Header.parse(b.limit(72));
    assertThat(h.headerLength()).isEqualTo(72);
    assertThat(h.refcountOrder()).isEqualTo(4);
    assertThat(h.incompatibleFeatures()).isZero();
    assertThat(h.compressionType()).isZero();
  }

  @Test
  void compressionTypeIsAbsentInA104ByteHeader() throws Exception {
    Qcow2Header h = Qcow2Header.parse(v3().putInt(100, 104).putLong(72, 0));
    assertThat(CompressionType.of(h)).isEqualTo(CompressionType.ZLIB);
  }

  @Test
  void everyClusterSizeQemuMakesIsAccepted() throws Exception {
    for (int bits = 9; bits <= 21; bits++) {
      ByteBuffer b = v3().putInt(20, bits).putInt(100, 104).putLong(40, 0).putLong(48, 1L << bits).putInt(36, 0);
      assertThat(Qcow2Header.parse(b).clusterSize()).isEqualTo(1 << bits);
    }
  }

  @Test
  void huge32BitFieldsStayPositive() {
    assertThatThrownBy(() -> Qcow2Header.parse(v3().putInt(36, -1)))
        .isInstanceOfSatisfying(BlockDeviceException.class, e -> assertThat(e.error()).isEqualTo(BlockError.EINVAL))
        .hasMessage("l1_size: 4294967295 (expected: at most 4194304 entries, QEMU's 32 MiB L1 limit)");
  }

  @Test
  void probeWantsMagicAndAKnownVersion() {
    Qcow2Format f = new Qcow2Format();
    assertThat(f.probe(v3())).isEqualTo(100);
    assertThat(f.probe(v3().putInt(4, 2))).isEqualTo(100);
    assertThat(f.probe(v3().putInt(4, 4))).as("the magic claims the file whatever the version").isEqualTo(100);
    assertThat(f.probe(v3().putInt(0, 0))).isZero();
    assertThat(f.probe(ByteBuffer.allocate(4))).isZero();
  }
}
