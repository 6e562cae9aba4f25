package dev.vdisk.format.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The feature name table header extension: names for feature bits, so that a bit this driver does not know
 * can still be reported by name. Entries are 48 bytes: type (0 incompatible, 1 compatible, 2 autoclear),
 * bit number, and a name of up to 46 bytes padded with NULs.
 */
final class FeatureNameTable {
  static final int TYPE_INCOMPATIBLE = 0;
  static final int TYPE_COMPATIBLE = 1;
  static final int TYPE_AUTOCLEAR = 2;
  static final FeatureNameTable EMPTY = new FeatureNameTable(Map.of());

  private static final int ENTRY = 48;
  private static final int NAME = 46;

  /** Key: {@code type << 8 | bit}. */
  private final Map<Integer, String> names;

  private FeatureNameTable(Map<Integer, String> names) {
    this.names = names;
  }

  /** Parses the extension's data; a trailing partial entry is ignored, as QEMU does. */
  static FeatureNameTable parse(ByteBuffer data) {
    Map<Integer, String> names = new HashMap<>();
    ByteBuffer b = data.duplicate();
    while (b.remaining() >= ENTRY) {
      int type = b.get() & 0xff;
      int bit = b.get() & 0xff;
      byte[] raw = new byte[NAME];
      b.get(raw);
      int len = 0;
      while (len < NAME && raw[len] != 0) {
        len++;
      }
      names.put(type << 8 | bit, new String(raw, 0, len, StandardCharsets.UTF_8));
    }
    return new FeatureNameTable(Map.copyOf(names));
  }

  /** The name the image gives bit {@code bit} of feature bitmap {@code type}, if any. */
  Optional<String> name(int type, int bit) {
    return Optional.ofNullable(names.get(type << 8 | bit));
  }
}
