package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The feature bits of a version 3 header and the rule for unknown ones: an unknown incompatible bit makes
 * the image unreadable; unknown compatible bits are ignored, unknown autoclear bits cleared by every writer.
 */
final class Features {
  /** Incompatible bit 0: refcounts may be stale. Harmless for reading. */
  static final long INCOMPAT_DIRTY = 1L;
  /** Incompatible bit 1: some metadata may be broken. Reads are allowed, writes never. */
  static final long INCOMPAT_CORRUPT = 1L << 1;
  /** Incompatible bit 2: guest data lives in an external data file. */
  static final long INCOMPAT_DATA_FILE = 1L << 2;
  /** Incompatible bit 3: compression_type is not zlib. */
  static final long INCOMPAT_COMPRESSION = 1L << 3;
  /** Incompatible bit 4: 128-bit L2 entries with 32 subclusters per cluster. */
  static final long INCOMPAT_EXTENDED_L2 = 1L << 4;
  static final long INCOMPAT_KNOWN =
      INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTENDED_L2;

  /** Compatible bit 0: lazy refcounts. */
  static final long COMPAT_LAZY_REFCOUNTS = 1L;

  /** Autoclear bit 0: the bitmaps extension is consistent. */
  static final long AUTOCLEAR_BITMAPS = 1L;
  /** Autoclear bit 1: the external data file is a valid raw image on its own. */
  static final long AUTOCLEAR_DATA_FILE_RAW = 1L << 1;
  /**
   * The autoclear bits vdisk knows (QEMU's {@code QCOW2_AUTOCLEAR_MASK}); the specification asks every writer to
   * clear all others, since it cannot keep what they promise.
   */
  static final long AUTOCLEAR_KNOWN = AUTOCLEAR_BITMAPS | AUTOCLEAR_DATA_FILE_RAW;

  private Features() {}

  /**
   * Refuses an image with incompatible bits this driver does not know, naming each (with its name from the
   * image's feature name table when it has one).
   */
  static void checkIncompatible(long bits, FeatureNameTable names) throws IOException {
    long unknown = bits & ~INCOMPAT_KNOWN;
    if (unknown == 0) {
      return;
    }
    List<String> found = new ArrayList<>();
    for (int bit = 0; bit < 64; bit++) {
      if ((unknown & (1L << bit)) != 0) {
        found.add("bit " + bit + names.name(FeatureNameTable.TYPE_INCOMPATIBLE, bit).map(n -> " (" + n + ")").orElse(""));
      }
    }
    throw Qcow2Errors.unsupported("incompatible_features " + Qcow2Errors.hex(bits), "unknown " + String.join(", ", found),
        "only bits 0-4: dirty, corrupt, external data file, compression type, extended L2");
  }
}
