package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The options of {@code qemu-img amend -o} for qcow2, parsed as QEMU parses its amend option list: each entry in
 * the order given is checked for its name (an option of creation only, or unknown, is refused) and type (bool:
 * {@code on|off} and QEMU's synonyms; number; size), then the values in the order of QEMU's option list. Every
 * message is qemu-img 7.2's. An option not given is null.
 *
 * @param compat {@code 2} or {@code 3}
 * @param refcountBits a power of two from 1 to 64
 * @param encrypt some {@code encrypt.*} option was given (vdisk has no encrypted images, so it is always refused)
 */
record AmendOptions(Integer compat, String backingFile, String backingFmt, String dataFile, Boolean dataFileRaw,
    Boolean lazyRefcounts, Integer refcountBits, boolean encrypt) {

  /** qemu-img amend's options for qcow2, in the order {@code -o help} lists them. */
  static final List<String> NAMES = List.of("backing_file", "backing_fmt", "compat", "data_file", "data_file_raw",
      "encrypt.iter-time", "encrypt.keyslot", "encrypt.new-secret", "encrypt.old-secret", "encrypt.state",
      "lazy_refcounts", "refcount_bits", "size");

  /** qcow2's creation options that amend does not take. */
  private static final Set<String> CREATION_ONLY = Set.of("encrypt", "encrypt.format", "encrypt.key-secret",
      "encrypt.cipher-alg", "encrypt.cipher-mode", "encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg",
      "cluster_size", "extended_l2", "preallocation", "compression_type");

  private static final Set<String> BOOLS = Set.of("data_file_raw", "lazy_refcounts");
  private static final Set<String> NUMBERS = Set.of("refcount_bits", "encrypt.iter-time", "encrypt.keyslot");

  /**
   * Parses {@code options} (in the order given; {@code size} is checked for its type only: the caller resizes).
   *
   * @throws BlockDeviceException (EINVAL) with qemu-img's message for the first bad entry
   */
  static AmendOptions parse(Map<String, String> options) throws BlockDeviceException {
    for (Map.Entry<String, String> e : options.entrySet()) {
      String name = e.getKey();
      if (!NAMES.contains(name)) {
        throw error("Invalid parameter '" + name + "'"
            + (CREATION_ONLY.contains(name) ? "\nThis option is only supported for image creation" : ""));
      }
      if (BOOLS.contains(name)) {
        bool(name, e.getValue());
      } else if (NUMBERS.contains(name)) {
        number(name, e.getValue());
      } else if (name.equals("size")) {
        size(e.getValue());
      }
    }
    Integer compat = null;
    String c = options.get("compat");
    if (c != null) {
      compat = switch (c) {
        case "0.10", "v2" -> 2;
        case "1.1", "v3" -> 3;
        default -> throw error("Unknown compatibility level " + c);
      };
    }
    Integer refcountBits = null;
    if (options.containsKey("refcount_bits")) {
      long bits = number("refcount_bits", options.get("refcount_bits"));
      if (bits <= 0 || bits > 64 || Long.bitCount(bits) != 1) {
        throw error("Refcount width must be a power of two and may not exceed 64 bits");
      }
      refcountBits = (int) bits;
    }
    boolean encrypt = options.keySet().stream().anyMatch(k -> k.startsWith("encrypt."));
    return new AmendOptions(compat, options.get("backing_file"), options.get("backing_fmt"), options.get("data_file"),
        options.containsKey("data_file_raw") ? bool("data_file_raw", options.get("data_file_raw")) : null,
        options.containsKey("lazy_refcounts") ? bool("lazy_refcounts", options.get("lazy_refcounts")) : null,
        refcountBits, encrypt);
  }

  /** QEMU's {@code qapi_bool_parse}. */
  private static boolean bool(String name, String value) throws BlockDeviceException {
    return switch (value) {
      case "on", "yes", "true", "y" -> true;
      case "off", "no", "false", "n" -> false;
      default -> throw error("Parameter '" + name + "' expects 'on' or 'off'");
    };
  }

  /** QEMU's {@code qemu_strtou64} in base 0: decimal, {@code 0x} hex or {@code 0} octal; a minus wraps around. */
  private static long number(String name, String value) throws BlockDeviceException {
    String v = value.strip();
    boolean negative = v.startsWith("-");
    if (negative || v.startsWith("+")) {
      v = v.substring(1);
    }
    try {
      long n;
      if (v.startsWith("0x") || v.startsWith("0X")) {
        n = Long.parseUnsignedLong(v.substring(2), 16);
      } else if (v.length() > 1 && v.startsWith("0")) {
        n = Long.parseUnsignedLong(v.substring(1), 8);
      } else {
        n = Long.parseUnsignedLong(v);
      }
      return negative ? -n : n;
    } catch (NumberFormatException ex) {
      throw error("Parameter '" + name + "' expects a number");
    }
  }

  /** A size: digits with an optional fraction and suffix, as {@code qemu_strtosz}; only the syntax is checked here. */
  private static void size(String value) throws BlockDeviceException {
    if (!value.matches("\\s*\\+?(0[xX][0-9a-fA-F]+|[0-9]+(\\.[0-9]*)?)[bBkKmMgGtTpPeE]?")) {
      throw error("Parameter 'size' expects a non-negative number below 2^64\n"
          + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
          + "and exabytes, respectively.");
    }
  }

  private static BlockDeviceException error(String message) {
    return new BlockDeviceException(BlockError.EINVAL, message);
  }
}
