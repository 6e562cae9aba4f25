package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Rewrites the header extension area with the bitmaps extension added, replaced or removed, as QEMU's
 * {@code qcow2_update_header} rewrites the header: the other extensions keep their order (the bitmaps extension
 * goes after the ones QEMU knows, before unknown ones), the end marker follows, then the backing file name, whose
 * offset is updated. One write from byte 0, as QEMU's, with the autoclear field in it. The area was checked when the
 * image was opened ({@link HeaderExtensions#parse}).
 */
final class HeaderExtensionArea {
  private HeaderExtensionArea() {}

  /**
   * @param fields the bitmaps extension's 24 bytes, or null to remove it
   * @param autoclear the autoclear feature bits to write with it
   * @throws IOException if the extensions and the backing file name no longer fit in the first cluster
   */
  static void writeBitmaps(BlockDevice file, Qcow2Header header, ByteBuffer fields, long autoclear) throws IOException {
    int clusterSize = header.clusterSize();
    ByteBuffer first = ByteBuffer.allocate(clusterSize);
    new HostReader(file, "image file").readData(0, first);
    first.clear();
    Scan scan = scan(first, header);
    List<ByteBuffer> before = new ArrayList<>();
    List<ByteBuffer> after = new ArrayList<>();
    for (ByteBuffer ext : scan.extensions()) {
      int type = ext.getInt(0);
      if (type != HeaderExtensions.BITMAPS) {
        (known(type) ? before : after).add(ext);
      }
    }
    byte[] name = new byte[header.hasBackingFile() ? (int) header.backingFileSize() : 0];
    first.get((int) header.backingFileOffset(), name);
    int end = (int) (header.backingFileOffset() != 0 ? header.backingFileOffset() : clusterSize);
    ByteBuffer out = ByteBuffer.allocate(clusterSize);
    out.put(first.slice(0, header.headerLength()));
    before.forEach(e -> out.put(e.duplicate()));
    if (fields != null) {
      if (out.remaining() < 8 + fields.remaining()) {
        throw Qcow2Errors.unsupported("header extensions", "no room for the bitmaps extension",
            "room in the first cluster of " + clusterSize + " bytes");
      }
      out.putInt(HeaderExtensions.BITMAPS).putInt(fields.remaining()).put(fields.duplicate());
    }
    after.forEach(e -> out.put(e.duplicate()));
    if (out.remaining() < 8 + name.length) {
      throw Qcow2Errors.unsupported("header extensions", "no room for the backing file name",
          "room in the first cluster of " + clusterSize + " bytes");
    }
    out.putLong(0);
    if (name.length > 0) {
      out.putLong(8, out.position());
      out.put(name);
    }
    out.putLong(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, autoclear);
    int length = Math.max(out.position(), Math.max(scan.end(), name.length > 0 ? end + name.length : 0));
    file.write(0, out.clear().limit(length), Set.of());
    file.flush();
  }

  /**
   * The extensions of the first cluster, in file order.
   *
   * @param extensions each extension whole (type, length, data padded to 8 bytes), a slice of the cluster; the end
   *     marker not included
   * @param end where the extension area ends: just past the end marker (or where the backing file name starts)
   */
  record Scan(List<ByteBuffer> extensions, int end) {}

  /** Lists the extensions of {@code first}, the first cluster of an image whose header is {@code header}. */
  static Scan scan(ByteBuffer first, Qcow2Header header) {
    int end = (int) (header.backingFileOffset() != 0 ? header.backingFileOffset() : header.clusterSize());
    List<ByteBuffer> extensions = new ArrayList<>();
    int oldEnd = header.headerLength();
    for (int at = header.headerLength(); at <= end - 8; ) {
      int type = first.getInt(at);
      int length = first.getInt(at + 4);
      int padded = (length + 7) & ~7;
      oldEnd = Math.min(end, at + 8 + padded);
      if (type == HeaderExtensions.END) {
        break;
      }
      extensions.add(first.slice(at, Math.min(8 + padded, end - at)));
      at += 8 + padded;
    }
    return new Scan(extensions, oldEnd);
  }

  /** The extensions QEMU writes before the bitmaps extension (and before unknown ones). */
  static boolean known(int type) {
    return type == HeaderExtensions.BACKING_FORMAT || type == HeaderExtensions.DATA_FILE
        || type == HeaderExtensions.FULL_DISK_ENCRYPTION || type == HeaderExtensions.FEATURE_NAME_TABLE;
  }
}
