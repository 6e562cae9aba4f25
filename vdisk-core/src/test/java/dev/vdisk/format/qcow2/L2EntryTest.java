package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import org.junit.jupiter.api.Test;

class L2EntryTest {
  private static final long NONE = L2Entry.NO_OFFSET;

  private static L2Entry.Decoder decoder(int clusterBits, boolean extended, int version, boolean dataFile) {
    return new L2Entry.Decoder(new Geometry(clusterBits, extended), version, dataFile);
  }

  @Test
  void standardEntries() throws Exception {
    L2Entry.Decoder d = decoder(16, false, 3, false);
    assertThat(d.decode(0, 0, 0, 0)).isEqualTo(new L2Entry.Unallocated(NONE));
    assertThat(d.decode(Geometry.COPIED | 0x50000, 0, 0, 0)).isEqualTo(new L2Entry.Normal(0x50000));
    assertThat(d.decode(0x50000, 0, 0, 0)).as("refcount > 1").isEqualTo(new L2Entry.Normal(0x50000));
    assertThat(d.decode(Geometry.ZERO, 0, 0, 0)).isEqualTo(new L2Entry.Zero(NONE));
    assertThat(d.decode(0x50000 | Geometry.ZERO, 0, 0, 0)).isEqualTo(new L2Entry.Zero(0x50000));
    assertThat(d.decode(Geometry.COPIED | 0x50000 | 0x1fe, 0, 0, 0)).as("reserved bits ignored").isEqualTo(new L2Entry.Normal(0x50000));
  }

  @Test
  void unalignedHostOffsetIsCorrupt() {
    assertThatThrownBy(() -> decoder(16, false, 3, false).decode(0x50200, 0, 0, 0x30000))
        .isInstanceOf(BlockDeviceException.class)
        .hasMessage("L2 entry for guest offset 196608: host offset: 0x50200 (expected: a multiple of the cluster size 65536)");
  }

  @Test
  void compressedDescriptorFollowsClusterBits() throws Exception {
    // cluster_bits 16: x = 54; offset in bits 0-53, additional sectors in bits 54-61.
    long word = Geometry.COMPRESSED | (3L << 54) | 0x12345;
    assertThat(decoder(16, false, 3, false).decode(word, 0, 0, 0)).isEqualTo(new L2Entry.Compressed(0x12345, 4 * 512 - 0x145));
    // cluster_bits 9: x = 61, one bit of sector count.
    long small = Geometry.COMPRESSED | (1L << 61) | 0x400;
    assertThat(decoder(9, false, 3, false).decode(small, 0, 0, 0)).isEqualTo(new L2Entry.Compressed(0x400, 1024));
    // cluster_bits 21: x = 49, 13 bits of sector count.
    long big = Geometry.COMPRESSED | (8191L << 49) | 0x200000;
    assertThat(decoder(21, false, 3, false).decode(big, 0, 0, 0)).isEqualTo(new L2Entry.Compressed(0x200000, 8192 * 512));
  }

  @Test
  void compressedOffsetsBeyond56BitsAreCorrupt() {
    long word = Geometry.COMPRESSED | (1L << 57);
    assertThatThrownBy(() -> decoder(9, false, 3, false).decode(word, 0, 0, 0))
        .hasMessageContaining("host offset: 0x200000000000000 (expected: after the header cluster and below 2^56)");
  }

  @Test
  void zeroFlagIsCorruptInVersion2() {
    assertThatThrownBy(() -> decoder(16, false, 2, false).decode(Geometry.ZERO, 0, 0, 0))
        .hasMessage("L2 entry for guest offset 0: zero flag: set (expected: unset in a version 2 image)");
  }

  @Test
  void extendedEntriesArePerSubcluster() throws Exception {
    L2Entry.Decoder d = decoder(16, true, 3, false);
    long word = Geometry.COPIED | 0x70000;
    long bitmap = (0b0100L << 32) | 0b0011L;
    assertThat(d.decode(word, bitmap, 0, 0)).isEqualTo(new L2Entry.Normal(0x70000));
    assertThat(d.decode(word, bitmap, 1, 0)).isEqualTo(new L2Entry.Normal(0x70000));
    assertThat(d.decode(word, bitmap, 2, 0)).isEqualTo(new L2Entry.Zero(0x70000));
    assertThat(d.decode(word, bitmap, 3, 0)).as("unallocated in an allocated cluster").isEqualTo(new L2Entry.Unallocated(0x70000));
    assertThat(d.decode(0, 1L << 63, 31, 0)).isEqualTo(new L2Entry.Zero(NONE));
    assertThat(d.decode(Geometry.ZERO | 0x70000, 0, 0, 0)).as("bit 0 means nothing with extended L2").isEqualTo(new L2Entry.Unallocated(0x70000));
  }

  @Test
  void extendedEntryInconsistenciesAreCorrupt() {
    L2Entry.Decoder d = decoder(16, true, 3, false);
    assertThatThrownBy(() -> d.decode(0, 1, 0, 0)).hasMessageContaining("allocated without a host offset");
    assertThatThrownBy(() -> d.decode(Geometry.COMPRESSED | 0x10000, 1, 0, 0)).hasMessageContaining("L2 bitmap of compressed cluster");
  }

  @Test
  void dataFileMapsGuestOffsetsOneToOne() throws Exception {
    L2Entry.Decoder d = decoder(16, false, 3, true);
    assertThat(d.decode(Geometry.COPIED, 0, 0, 0)).as("offset 0 with COPIED is allocated").isEqualTo(new L2Entry.Normal(0));
    assertThat(d.decode(Geometry.COPIED | 0x20000, 0, 0, 0x20000)).isEqualTo(new L2Entry.Normal(0x20000));
    assertThatThrownBy(() -> d.decode(Geometry.COPIED | 0x30000, 0, 0, 0x20000))
        .hasMessageContaining("data file offset: 196608 (expected: 131072");
    assertThatThrownBy(() -> d.decode(Geometry.COMPRESSED | 0x30000, 0, 0, 0))
        .hasMessageContaining("no compressed clusters in an image with an external data file");
  }
}
