package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The first cluster of an existing image written again with changed header fields, laid out as QEMU's
 * {@code qcow2_update_header} lays it out: the fixed header (72 bytes for version 2; for version 3 the old
 * header_length when it stays version 3, else 112), then the extensions (backing format, external data file, the
 * feature name table for version 3 with clusters larger than 4 KiB, bitmaps, unknown extensions in their order),
 * the end marker and the backing file name; zeroes to the end of the cluster. A version 2 image written by
 * {@code qemu-img create} and upgraded here gets the bytes {@code qemu-img create -o compat=1.1} writes, and the
 * reverse.
 *
 * <p><b>Crash safety:</b> a disk writes a 512-byte sector whole, and every fixed field lies in the first. When the
 * old and the new header areas (extensions and backing file name) both end within it, one write of the cluster and
 * a flush switch atomically. Otherwise (a v3 header with its feature name table takes 512 bytes, so a backing format,
 * a bitmaps extension or a backing file name goes past it) three steps, each leaving a valid header: the old header
 * without its optional feature name table, compacted into the first sector alone; then the new cluster but its
 * first sector, which that compact header does not read; then the new first sector. Where even the compact header
 * does not fit in one sector (a very long backing file name), the cluster is written in place as QEMU writes it,
 * and a power loss in that write may leave a mixed area (as with QEMU).
 */
final class HeaderRewrite {
  private final ImageHead head;
  int version;
  long incompatible;
  long compatible;
  long autoclear;
  int refcountOrder;
  long refcountTableOffset;
  long refcountTableClusters;
  int compressionType;
  Optional<String> dataFile;
  boolean keepBitmaps = true;
  /** Whether the optional feature name table is written (where the version and cluster size call for one). */
  private boolean featureTable = true;
  /** Bytes of the area {@link #encode} used: header, extensions, end marker and backing file name. */
  private int used;

  /** A rewrite that, unchanged, keeps every field of {@code head} (unknown autoclear bits are cleared, as QEMU does). */
  HeaderRewrite(ImageHead head) {
    this.head = head;
    Qcow2Header h = head.header();
    version = h.version();
    incompatible = h.incompatibleFeatures();
    compatible = h.compatibleFeatures();
    autoclear = h.autoclearFeatures() & Features.AUTOCLEAR_KNOWN;
    refcountOrder = h.refcountOrder();
    refcountTableOffset = h.refcountTableOffset();
    refcountTableClusters = h.refcountTableClusters();
    compressionType = h.compressionType();
    dataFile = head.extensions().dataFile();
  }

  /**
   * Writes the new first cluster at offset 0 and flushes the file.
   *
   * @throws IOException if the extensions and the backing file name do not fit in the first cluster
   */
  void write(BlockDevice file) throws IOException {
    ByteBuffer target = encode();
    int sector = 512;
    HeaderRewrite old = new HeaderRewrite(head);
    old.encode();
    if (Math.max(used, old.used) > sector) {
      old.featureTable = false;
      ByteBuffer compact = old.encode();
      if (old.used <= sector) {
        file.write(0, compact.limit(sector), Set.of());
        file.flush();
        file.write(sector, target.duplicate().position(sector), Set.of());
        file.flush();
        file.write(0, target.duplicate().limit(sector), Set.of());
        file.flush();
        return;
      }
    }
    file.write(0, target, Set.of());
    file.flush();
  }

  /** The new first cluster. */
  ByteBuffer encode() throws IOException {
    Qcow2Header h = head.header();
    ByteBuffer old = head.firstCluster();
    int clusterSize = h.clusterSize();
    ByteBuffer out = ByteBuffer.allocate(clusterSize);
    out.put(old.slice(0, Qcow2Header.V2_HEADER_LENGTH));
    out.putInt(4, version);
    out.putLong(8, 0).putInt(16, 0);
    out.putLong(Qcow2Header.REFCOUNT_TABLE_OFFSET_FIELD, refcountTableOffset);
    out.putInt(Qcow2Header.REFCOUNT_TABLE_OFFSET_FIELD + 8, (int) refcountTableClusters);
    int headerLength = Qcow2Header.V2_HEADER_LENGTH;
    if (version >= 3) {
      headerLength = h.version() >= 3 ? h.headerLength() : HeaderEncoder.V3_HEADER_LENGTH;
      if (h.version() >= 3) {
        out.put(Qcow2Header.V3_MIN_HEADER_LENGTH, old, Qcow2Header.V3_MIN_HEADER_LENGTH,
            headerLength - Qcow2Header.V3_MIN_HEADER_LENGTH);
      }
      out.putLong(Qcow2Header.INCOMPATIBLE_FEATURES_FIELD, incompatible);
      out.putLong(80, compatible);
      out.putLong(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, autoclear);
      out.putInt(96, refcountOrder);
      out.putInt(100, headerLength);
      out.put(104, (byte) compressionType);
    }
    out.position(headerLength);
    HeaderExtensions ext = head.extensions();
    ext.backingFormat().ifPresent(f -> HeaderEncoder.extension(out, HeaderExtensions.BACKING_FORMAT, bytes(f)));
    dataFile.ifPresent(f -> HeaderEncoder.extension(out, HeaderExtensions.DATA_FILE, bytes(f)));
    if (featureTable && version >= 3 && h.clusterBits() > 12) {
      HeaderEncoder.extension(out, HeaderExtensions.FEATURE_NAME_TABLE, HeaderEncoder.featureTable());
    }
    List<ByteBuffer> kept = otherExtensions();
    for (ByteBuffer e : kept) {
      if (out.remaining() < e.remaining() + 8) {
        throw Qcow2Errors.unsupported("header extensions", "no room in the first cluster",
            "extensions and backing file name within " + clusterSize + " bytes");
      }
      out.put(e.duplicate());
    }
    byte[] name = new byte[h.hasBackingFile() ? (int) h.backingFileSize() : 0];
    old.get((int) h.backingFileOffset(), name);
    if (out.remaining() < 8 + name.length) {
      throw Qcow2Errors.unsupported("header extensions", "no room for the backing file name",
          "extensions and backing file name within " + clusterSize + " bytes");
    }
    out.putLong(0);
    if (name.length > 0) {
      out.putLong(8, out.position());
      out.putInt(16, name.length);
      out.put(name);
    }
    used = out.position();
    return out.clear();
  }

  /** The bitmaps extension (when kept) and the unknown extensions, each with its type, length and padding. */
  private List<ByteBuffer> otherExtensions() {
    Qcow2Header h = head.header();
    ByteBuffer first = head.firstCluster();
    int end = (int) (h.backingFileOffset() != 0 ? h.backingFileOffset() : h.clusterSize());
    List<ByteBuffer> bitmaps = new ArrayList<>();
    List<ByteBuffer> unknown = new ArrayList<>();
    for (int at = h.headerLength(); at <= end - 8; ) {
      int type = first.getInt(at);
      int padded = (first.getInt(at + 4) + 7) & ~7;
      if (type == HeaderExtensions.END) {
        break;
      }
      ByteBuffer e = first.slice(at, Math.min(8 + padded, end - at));
      if (type == HeaderExtensions.BITMAPS) {
        if (keepBitmaps) {
          bitmaps.add(e);
        }
      } else if (type != HeaderExtensions.BACKING_FORMAT && type != HeaderExtensions.DATA_FILE
          && type != HeaderExtensions.FEATURE_NAME_TABLE && type != HeaderExtensions.FULL_DISK_ENCRYPTION) {
        unknown.add(e);
      }
      at += 8 + padded;
    }
    bitmaps.addAll(unknown);
    return bitmaps;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
