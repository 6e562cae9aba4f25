package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.hex;
import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * The header extensions between the header and the backing file name (or the end of the first cluster). Each
 * is {@code type (4 bytes), length (4 bytes), data}, padded to a multiple of 8; type 0 ends the list. Unknown
 * types are skipped; a known type may appear once.
 *
 * @param backingFormat type 0xe2792aca: the backing file's format name
 * @param featureNames type 0x6803f857: names of feature bits
 * @param dataFile type 0x44415441: the external data file's name
 * @param bitmaps type 0x23852875: kept as found, not interpreted
 * @param cryptoHeader type 0x0537be77: where a LUKS encrypted image keeps its LUKS header (crypt_method 2 only)
 */
record HeaderExtensions(Optional<String> backingFormat, FeatureNameTable featureNames, Optional<String> dataFile,
    Optional<Bitmaps> bitmaps, Optional<CryptoHeader> cryptoHeader) {

  static final int END = 0;
  static final int BACKING_FORMAT = 0xe2792aca;
  static final int FEATURE_NAME_TABLE = 0x6803f857;
  static final int BITMAPS = 0x23852875;
  static final int FULL_DISK_ENCRYPTION = 0x0537be77;
  static final int DATA_FILE = 0x44415441;

  /** QEMU keeps the backing format in a 16-byte C string. */
  static final int MAX_BACKING_FORMAT = 15;
  static final int BITMAPS_LENGTH = 24;
  static final int CRYPTO_HEADER_LENGTH = 16;

  /**
   * The bitmaps extension's fields, kept so that a later writer can preserve them.
   *
   * @param nbBitmaps bytes 0-3: number of bitmaps
   * @param directorySize bytes 8-15: size of the bitmap directory in bytes
   * @param directoryOffset bytes 16-23: where the bitmap directory starts
   * @param fieldsAt where byte 0 of these fields lies in the image file
   */
  record Bitmaps(long nbBitmaps, long directorySize, long directoryOffset, int fieldsAt) {}

  /**
   * The full disk encryption header extension: the clusters holding the LUKS header and its key material.
   *
   * @param offset bytes 0-7: where they start in the image file, a multiple of the cluster size
   * @param length bytes 8-15: their length; the LUKS header's reads must stay inside it
   */
  record CryptoHeader(long offset, long length) {}

  /**
   * Parses the extensions of an image whose header is {@code header}.
   *
   * @param firstCluster the image's first cluster from offset 0 (zero-filled where the file is shorter)
   */
  static HeaderExtensions parse(ByteBuffer firstCluster, Qcow2Header header) throws IOException {
    int end = (int) (header.backingFileOffset() != 0 ? header.backingFileOffset() : header.clusterSize());
    Optional<String> backingFormat = Optional.empty();
    FeatureNameTable names = FeatureNameTable.EMPTY;
    Optional<String> dataFile = Optional.empty();
    Optional<Bitmaps> bitmaps = Optional.empty();
    Optional<CryptoHeader> crypto = Optional.empty();
    Set<Integer> seen = new HashSet<>();
    int at = header.headerLength();
    while (at < end) {
      if (at > end - 8) {
        throw invalid("header extension at offset " + at, (end - at) + " bytes before " + endName(header),
            "8 bytes or more for its type and length, or none");
      }
      int type = firstCluster.getInt(at);
      long length = firstCluster.getInt(at + 4) & 0xffffffffL;
      int dataAt = at + 8;
      if (length > end - dataAt) {
        throw invalid("header extension " + hex(type & 0xffffffffL) + " at offset " + at + ": length", length,
            "at most " + (end - dataAt) + ", ending before " + endName(header));
      }
      // QEMU checks the length before the type, even for the end marker.
      if (type == END) {
        break;
      }
      ByteBuffer data = firstCluster.slice(dataAt, (int) length);
      boolean known = type == BACKING_FORMAT || type == FEATURE_NAME_TABLE || type == BITMAPS
          || type == FULL_DISK_ENCRYPTION || type == DATA_FILE;
      if (known && !seen.add(type)) {
        throw invalid("header extension " + hex(type & 0xffffffffL), "repeated at offset " + at, "at most one of each type");
      }
      switch (type) {
        case BACKING_FORMAT -> {
          if (length > MAX_BACKING_FORMAT) {
            throw invalid("backing format header extension: length", length, "at most " + MAX_BACKING_FORMAT + " bytes");
          }
          backingFormat = Optional.of(string(data));
        }
        case FEATURE_NAME_TABLE -> names = FeatureNameTable.parse(data);
        case DATA_FILE -> dataFile = Optional.of(string(data));
        case BITMAPS -> {
          if (length != BITMAPS_LENGTH) {
            throw invalid("bitmaps header extension: length", length, "exactly " + BITMAPS_LENGTH);
          }
          bitmaps = Optional.of(new Bitmaps(data.getInt(0) & 0xffffffffL, data.getLong(8), data.getLong(16), dataAt));
        }
        case FULL_DISK_ENCRYPTION -> crypto = Optional.of(cryptoHeader(data, header));
        default -> {
          // Unknown extensions are optional by definition: skipping them is always safe.
        }
      }
      at = (int) Math.min(end, dataAt + ((length + 7) & ~7L));
    }
    if (header.cryptMethod() == Qcow2Header.CRYPT_LUKS && crypto.isEmpty()) {
      throw invalid("full disk encryption header extension", "absent", "present with crypt_method 2 (LUKS)");
    }
    return new HeaderExtensions(backingFormat, names, dataFile, bitmaps, crypto);
  }

  /** The full disk encryption header extension, checked as QEMU's {@code qcow2_read_extensions} checks it. */
  private static CryptoHeader cryptoHeader(ByteBuffer data, Qcow2Header header) throws IOException {
    if (header.cryptMethod() != Qcow2Header.CRYPT_LUKS) {
      throw invalid("full disk encryption header extension", "present with crypt_method " + header.cryptMethod(),
          "only with crypt_method 2: CRYPTO header extension only expected with LUKS encryption method");
    }
    if (data.remaining() != CRYPTO_HEADER_LENGTH) {
      throw invalid("full disk encryption header extension: length", data.remaining(),
          "exactly " + CRYPTO_HEADER_LENGTH);
    }
    long offset = data.getLong(0);
    long length = data.getLong(8);
    if (offset < 0 || offset % header.clusterSize() != 0) {
      throw invalid("full disk encryption header extension: offset", Long.toUnsignedString(offset),
          "a multiple of the cluster size " + header.clusterSize());
    }
    if (length < 0) {
      throw invalid("full disk encryption header extension: length of the LUKS area", Long.toUnsignedString(length),
          "at most " + Long.MAX_VALUE);
    }
    return new CryptoHeader(offset, length);
  }

  private static String endName(Qcow2Header header) {
    return header.backingFileOffset() != 0 ? "the backing file name" : "the end of the first cluster";
  }

  private static String string(ByteBuffer data) {
    byte[] raw = new byte[data.remaining()];
    data.duplicate().get(raw);
    return new String(raw, StandardCharsets.UTF_8);
  }
}
