package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.hex;
import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;
import static dev.vdisk.format.qcow2.Qcow2Errors.unsupported;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The fixed qcow2 header (version 2 and 3), field names in camelCase of the specification's, all big endian.
 * Unsigned 32-bit fields are widened to {@code long} so that a hostile value cannot turn negative.
 *
 * <p>Bytes 0-3 are the magic {@code "QFI\xfb"}, checked by {@link #parse} and not kept.
 *
 * <p>{@link #parse} checks every field that can be checked without the rest of the file: ranges, alignment
 * and memory bounds. Where the tables lie relative to the file and to each other is {@link Layout}'s job.
 *
 * @param version bytes 4-7: 2 or 3
 * @param backingFileOffset bytes 8-15: where the backing file name is, 0 for none
 * @param backingFileSize bytes 16-19: length of the backing file name (meaningful only with an offset)
 * @param clusterBits bytes 20-23: log2 of the cluster size
 * @param size bytes 24-31: virtual disk size in bytes
 * @param cryptMethod bytes 32-35: 0 none, 1 AES, 2 LUKS
 * @param l1Size bytes 36-39: entries in the active L1 table
 * @param l1TableOffset bytes 40-47: where the active L1 table starts
 * @param refcountTableOffset bytes 48-55: where the refcount table starts
 * @param refcountTableClusters bytes 56-59: clusters the refcount table occupies
 * @param nbSnapshots bytes 60-63: entries in the snapshot table
 * @param snapshotsOffset bytes 64-71: where the snapshot table starts
 * @param incompatibleFeatures bytes 72-79 (v3; 0 for v2): see {@link Features}
 * @param compatibleFeatures bytes 80-87 (v3; 0 for v2)
 * @param autoclearFeatures bytes 88-95 (v3; 0 for v2)
 * @param refcountOrder bytes 96-99 (v3; 4 for v2): refcount entries are {@code 1 << refcountOrder} bits
 * @param headerLength bytes 100-103 (v3; 72 for v2): where header extensions start
 * @param compressionType byte 104 (v3 with {@code headerLength > 104}; else 0): 0 zlib, 1 zstd
 */
record Qcow2Header(
    int version,
    long backingFileOffset,
    long backingFileSize,
    int clusterBits,
    long size,
    long cryptMethod,
    long l1Size,
    long l1TableOffset,
    long refcountTableOffset,
    long refcountTableClusters,
    long nbSnapshots,
    long snapshotsOffset,
    long incompatibleFeatures,
    long compatibleFeatures,
    long autoclearFeatures,
    int refcountOrder,
    int headerLength,
    int compressionType) {

  /** "QFI\xfb". */
  static final int MAGIC = 0x514649fb;
  /** crypt_method 1: QEMU's legacy AES-CBC encryption, which vdisk refuses. */
  static final long CRYPT_AES = 1;
  /** crypt_method 2: LUKS, its header where the full disk encryption header extension points. */
  static final long CRYPT_LUKS = 2;
  static final int V2_HEADER_LENGTH = 72;
  /** Byte offset of size. */
  static final int SIZE_FIELD = 24;
  /** Byte offset of l1_size, followed by l1_table_offset: rewritten together when the L1 table moves. */
  static final int L1_SIZE_FIELD = 36;
  /** Byte offset of refcount_table_offset, followed by refcount_table_clusters: rewritten when the table moves. */
  static final int REFCOUNT_TABLE_OFFSET_FIELD = 48;
  /** Byte offset of autoclear_features (v3). */
  static final int AUTOCLEAR_FEATURES_FIELD = 88;
  /** Offset of incompatible_features (8 bytes, version 3). */
  static final int INCOMPATIBLE_FEATURES_FIELD = 72;
  static final int V3_MIN_HEADER_LENGTH = 104;
  static final int MIN_CLUSTER_BITS = 9;
  /** QEMU's implementation limit: 2 MiB clusters. */
  static final int MAX_CLUSTER_BITS = 21;
  /** Extended L2 entries need clusters of at least 16 KiB (32 subclusters of at least 512 bytes). */
  static final int MIN_EXTENDED_L2_CLUSTER_BITS = 14;
  /** QEMU's limit on the active L1 table: 32 MiB, which bounds the memory the table takes here too. */
  static final long MAX_L1_BYTES = 32L << 20;
  /** QEMU's limit on the refcount table: 8 MiB. */
  static final long MAX_REFCOUNT_TABLE_BYTES = 8L << 20;
  /** QEMU's limit on the number of internal snapshots. */
  static final long MAX_SNAPSHOTS = 65536;
  static final int MAX_BACKING_FILE_NAME = 1023;

  /**
   * Parses and checks the header at the start of {@code head} (the first cluster of the file, or as much of
   * it as the file has).
   *
   * @throws IOException naming the first field that no image this driver can read has
   */
  static Qcow2Header parse(ByteBuffer head) throws IOException {
    return parse(head, false);
  }

  /**
   * {@link #parse(ByteBuffer)}; {@code forCheck}: as QEMU opens an image in check mode, which leaves the snapshot
   * table to the check, so that more than {@link #MAX_SNAPSHOTS} snapshots are the check's to report or discard.
   */
  static Qcow2Header parse(ByteBuffer head, boolean forCheck) throws IOException {
    if (head.remaining() < V2_HEADER_LENGTH) {
      throw invalid("file size", head.remaining() + " bytes", "at least " + V2_HEADER_LENGTH + ", a qcow2 header");
    }
    ByteBuffer b = head.duplicate();
    int p = b.position();
    int magic = b.getInt(p);
    if (magic != MAGIC) {
      throw invalid("magic", hex(magic & 0xffffffffL), "0x514649fb, \"QFI\\xfb\"");
    }
    long version = u32(b, p + 4);
    if (version != 2 && version != 3) {
      // qemu-img's words, which scripts look for.
      throw new BlockDeviceException(BlockError.ENOTSUP, "Unsupported qcow2 version " + version + " (expected: 2 or 3)");
    }
    long clusterBits = u32(b, p + 20);
    if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
      throw invalid("cluster_bits", clusterBits, MIN_CLUSTER_BITS + " to " + MAX_CLUSTER_BITS + ", clusters of 512 bytes to 2 MiB");
    }
    int clusterSize = 1 << clusterBits;
    long incompatible = 0;
    long compatible = 0;
    long autoclear = 0;
    long refcountOrder = 4;
    long headerLength = V2_HEADER_LENGTH;
    int compressionType = 0;
    if (version == 3) {
      if (b.remaining() < V3_MIN_HEADER_LENGTH) {
        throw invalid("file size", b.remaining() + " bytes", "at least " + V3_MIN_HEADER_LENGTH + ", a version 3 header");
      }
      incompatible = b.getLong(p + 72);
      compatible = b.getLong(p + 80);
      autoclear = b.getLong(p + 88);
      refcountOrder = u32(b, p + 96);
      headerLength = u32(b, p + 100);
      if (headerLength < V3_MIN_HEADER_LENGTH || headerLength > clusterSize || headerLength % 8 != 0) {
        throw invalid("header_length", headerLength, "a multiple of 8 from " + V3_MIN_HEADER_LENGTH + " to the cluster size " + clusterSize);
      }
      if (refcountOrder > 6) {
        throw invalid("refcount_order", refcountOrder, "0 to 6, refcounts of 1 to 64 bits");
      }
      if (headerLength > V3_MIN_HEADER_LENGTH) {
        if (b.remaining() <= V3_MIN_HEADER_LENGTH) {
          throw invalid("file size", b.remaining() + " bytes", "more than " + V3_MIN_HEADER_LENGTH + " for header_length " + headerLength);
        }
        compressionType = b.get(p + 104) & 0xff;
      }
    }
    long backingFileOffset = b.getLong(p + 8);
    long backingFileSize = u32(b, p + 16);
    if (backingFileOffset != 0) {
      // QEMU accepts any offset within the first cluster, the header's own bytes included: header extensions then
      // end there (none when it is below header_length) and the name is read from there.
      if (backingFileOffset < 0 || backingFileOffset > clusterSize) {
        throw invalid("backing_file_offset", backingFileOffset, "0, or at most the cluster size " + clusterSize);
      }
      if (backingFileSize > MAX_BACKING_FILE_NAME || backingFileSize > clusterSize - backingFileOffset) {
        throw invalid("backing_file_size", backingFileSize,
            "at most " + Math.min(MAX_BACKING_FILE_NAME, clusterSize - backingFileOffset) + " bytes, within the first cluster");
      }
    }
    long size = b.getLong(p + 24);
    if (size < 0) {
      throw invalid("size", Long.toUnsignedString(size), "at most " + Long.MAX_VALUE);
    }
    long cryptMethod = u32(b, p + 32);
    if (cryptMethod == CRYPT_AES) {
      throw unsupported("crypt_method", cryptMethod, "0 or 2: legacy AES-CBC encryption (crypt_method 1) is not "
          + "supported, only LUKS");
    }
    if (cryptMethod > CRYPT_LUKS) {
      throw invalid("crypt_method", cryptMethod, "0 (none) or 2 (LUKS): Unsupported encryption method");
    }
    long l1Size = u32(b, p + 36);
    if (l1Size > MAX_L1_BYTES / 8) {
      throw invalid("l1_size", l1Size, "at most " + MAX_L1_BYTES / 8 + " entries, QEMU's 32 MiB L1 limit");
    }
    long l1TableOffset = b.getLong(p + 40);
    checkAligned("l1_table_offset", l1TableOffset, clusterSize);
    long refcountTableOffset = b.getLong(p + 48);
    checkAligned("refcount_table_offset", refcountTableOffset, clusterSize);
    long refcountTableClusters = u32(b, p + 56);
    long maxRefcountClusters = MAX_REFCOUNT_TABLE_BYTES >> clusterBits;
    if (refcountTableClusters < 1 || refcountTableClusters > maxRefcountClusters) {
      throw invalid("refcount_table_clusters", refcountTableClusters,
          "1 to " + maxRefcountClusters + ", QEMU's 8 MiB refcount table limit at " + clusterSize + "-byte clusters");
    }
    if (refcountTableOffset == 0) {
      throw invalid("refcount_table_offset", 0, "a cluster after the header");
    }
    long nbSnapshots = u32(b, p + 60);
    if (nbSnapshots > MAX_SNAPSHOTS && !forCheck) {
      throw invalid("nb_snapshots", nbSnapshots, "at most " + MAX_SNAPSHOTS);
    }
    long snapshotsOffset = b.getLong(p + 64);
    if (nbSnapshots > 0) {
      checkAligned("snapshots_offset", snapshotsOffset, clusterSize);
      if (snapshotsOffset == 0) {
        throw invalid("snapshots_offset", 0, "a cluster after the header for " + nbSnapshots + " snapshots");
      }
    }
    return new Qcow2Header((int) version, backingFileOffset, backingFileSize, (int) clusterBits, size, cryptMethod, l1Size,
        l1TableOffset, refcountTableOffset, refcountTableClusters, nbSnapshots, snapshotsOffset, incompatible, compatible,
        autoclear, (int) refcountOrder, (int) headerLength, compressionType);
  }

  int clusterSize() {
    return 1 << clusterBits;
  }

  /** Bits of one refcount entry: 1 to 64. */
  int refcountBits() {
    return 1 << refcountOrder;
  }

  /** True if the image names a backing file (an empty name counts as none, as in QEMU). */
  boolean hasBackingFile() {
    return backingFileOffset != 0 && backingFileSize > 0;
  }

  private static long u32(ByteBuffer b, int at) {
    return b.getInt(at) & 0xffffffffL;
  }

  private static void checkAligned(String field, long offset, int clusterSize) throws IOException {
    if (offset < 0 || (offset & (clusterSize - 1)) != 0) {
      throw invalid(field, Long.toUnsignedString(offset), "a non-negative multiple of the cluster size " + clusterSize);
    }
  }
}
