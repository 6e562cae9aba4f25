package dev.vdisk.format.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Encodes the first cluster of an image as QEMU's {@code qcow2_update_header} writes it: the fixed header (72
 * bytes for version 2, 112 for version 3, with the compression type byte and padding), then the header extensions
 * in QEMU's order (backing format, external data file name, feature name table for version 3 with clusters
 * larger than 4 KiB, end marker), each padded to 8 bytes, then the backing file name. The rest is zeroes.
 */
final class HeaderEncoder {
  /** QEMU 7.2's header_length for version 3: 104 bytes plus the compression type byte, padded to 8. */
  static final int V3_HEADER_LENGTH = 112;

  /** QEMU 7.2's feature name table: type, bit, name. */
  private static final Object[][] FEATURES = {
      {0, 0, "dirty bit"}, {0, 1, "corrupt bit"}, {0, 2, "external data file"}, {0, 3, "compression type"},
      {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"}, {2, 0, "bitmaps"}, {2, 1, "raw external data"}};

  /**
   * The header fields an encoder needs besides the options.
   *
   * @param size virtual size in bytes
   * @param l1Size active L1 entries
   * @param l1Offset active L1 table offset
   * @param refcountTableOffset refcount table offset
   * @param refcountTableClusters refcount table clusters
   */
  record Tables(long size, long l1Size, long l1Offset, long refcountTableOffset, long refcountTableClusters) {}

  private HeaderEncoder() {}

  /** Fills {@code cluster} (zeroed, one cluster) with the header of an image made with {@code o}. */
  static void encode(ByteBuffer cluster, Qcow2CreateOptions o, Tables t) {
    ByteBuffer b = cluster.duplicate().clear();
    b.putInt(0, Qcow2Header.MAGIC);
    b.putInt(4, o.version());
    b.putInt(20, o.clusterBits());
    b.putLong(24, t.size());
    b.putInt(32, 0);
    b.putInt(36, (int) t.l1Size());
    b.putLong(40, t.l1Offset());
    b.putLong(48, t.refcountTableOffset());
    b.putInt(56, (int) t.refcountTableClusters());
    int headerLength = Qcow2Header.V2_HEADER_LENGTH;
    if (o.version() >= 3) {
      long incompatible = (o.dataFile().isPresent() ? Features.INCOMPAT_DATA_FILE : 0)
          | (o.compressionType() != 0 ? Features.INCOMPAT_COMPRESSION : 0)
          | (o.extendedL2() ? Features.INCOMPAT_EXTENDED_L2 : 0);
      b.putLong(72, incompatible);
      b.putLong(80, o.lazyRefcounts() ? Features.COMPAT_LAZY_REFCOUNTS : 0);
      b.putLong(88, o.dataFileRaw() ? Features.AUTOCLEAR_DATA_FILE_RAW : 0);
      b.putInt(96, o.refcountOrder());
      headerLength = V3_HEADER_LENGTH;
      b.putInt(100, headerLength);
      b.put(104, (byte) o.compressionType());
    }
    b.position(headerLength);
    o.backingFormat().ifPresent(f -> extension(b, HeaderExtensions.BACKING_FORMAT, bytes(f)));
    o.dataFile().ifPresent(f -> extension(b, HeaderExtensions.DATA_FILE, bytes(f)));
    if (o.version() >= 3 && o.clusterBits() > 12) {
      extension(b, HeaderExtensions.FEATURE_NAME_TABLE, featureTable());
    }
    extension(b, HeaderExtensions.END, new byte[0]);
    Optional<String> backing = o.backingFile();
    if (backing.isPresent()) {
      byte[] name = bytes(backing.get());
      b.putLong(8, b.position());
      b.putInt(16, name.length);
      b.put(name);
    }
  }

  /**
   * Bytes the header cluster needs for {@code o}: checked before creating so that a name too long for the first
   * cluster is refused up front, as QEMU refuses it.
   */
  static int bytesNeeded(Qcow2CreateOptions o) {
    int n = o.version() >= 3 ? V3_HEADER_LENGTH : Qcow2Header.V2_HEADER_LENGTH;
    n += o.backingFormat().map(f -> 8 + pad(bytes(f).length)).orElse(0);
    n += o.dataFile().map(f -> 8 + pad(bytes(f).length)).orElse(0);
    n += o.version() >= 3 && o.clusterBits() > 12 ? 8 + FEATURES.length * 48 : 0;
    n += 8;
    n += o.backingFile().map(f -> bytes(f).length).orElse(0);
    return n;
  }

  static byte[] featureTable() {
    ByteBuffer t = ByteBuffer.allocate(FEATURES.length * 48);
    for (Object[] f : FEATURES) {
      int at = t.position();
      t.put((byte) (int) (Integer) f[0]).put((byte) (int) (Integer) f[1]).put(bytes((String) f[2]));
      t.position(at + 48);
    }
    return t.array();
  }

  static void extension(ByteBuffer b, int type, byte[] data) {
    b.putInt(type).putInt(data.length).put(data);
    b.position(b.position() + pad(data.length) - data.length);
  }

  private static int pad(int n) {
    return (n + 7) & ~7;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
