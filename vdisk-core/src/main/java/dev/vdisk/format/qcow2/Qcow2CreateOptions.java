package dev.vdisk.format.qcow2;

import dev.vdisk.io.Preallocation;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code -o} options of a new qcow2 image, as qemu-img 7.2 takes them, checked together before anything is
 * created. Every refusal is one {@link IllegalArgumentException} naming the option, its value and what is expected.
 *
 * @param version 2 ({@code compat=0.10|v2}) or 3 ({@code compat=1.1|v3}, the default)
 * @param clusterBits log2 of {@code cluster_size} (512 bytes to 2 MiB, default 64 KiB)
 * @param refcountOrder log2 of {@code refcount_bits} (1 to 64, default 16; other than 16 needs version 3)
 * @param lazyRefcounts {@code lazy_refcounts} (version 3)
 * @param extendedL2 {@code extended_l2} (version 3, clusters of at least 16 KiB)
 * @param compressionType {@code compression_type} (zstd needs version 3)
 * @param preallocation {@code preallocation}; {@code data_file_raw} turns off into metadata, as QEMU does
 * @param backingFile {@code backing_file} as it will be recorded
 * @param backingFormat {@code backing_fmt} (only with a backing file)
 * @param dataFile {@code data_file} as it will be recorded (version 3)
 * @param dataFileRaw {@code data_file_raw} (only with a data file, not with a backing file)
 */
public record Qcow2CreateOptions(int version, int clusterBits, int refcountOrder, boolean lazyRefcounts, boolean extendedL2,
    int compressionType, Preallocation preallocation, Optional<String> backingFile, Optional<String> backingFormat,
    Optional<String> dataFile, boolean dataFileRaw) {

  /** The option names vdisk implements. */
  public static final List<String> NAMES = List.of("cluster_size", "extended_l2", "preallocation", "compression_type",
      "compat", "backing_file", "backing_fmt", "data_file", "data_file_raw", "lazy_refcounts", "refcount_bits");

  /** qemu-img's encryption options, which vdisk refuses with a reason. */
  private static final Set<String> ENCRYPTION = Set.of("encryption", "encrypt.format", "encrypt.key-secret",
      "encrypt.cipher-alg", "encrypt.cipher-mode", "encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg",
      "encrypt.iter-time");

  /** Names the format accepts, encryption options included so that they can be refused with a reason. */
  static Set<String> acceptedNames() {
    return Set.copyOf(java.util.stream.Stream.concat(NAMES.stream(), ENCRYPTION.stream()).toList());
  }

  /**
   * Parses and cross-checks {@code options} (names already checked against {@link #acceptedNames()}).
   *
   * @throws IllegalArgumentException {@code option: 'value' (expected: ...)} for the first problem found
   */
  public static Qcow2CreateOptions parse(Map<String, String> options) {
    for (String key : options.keySet()) {
      if (ENCRYPTION.contains(key)) {
        throw new IllegalArgumentException(key + ": '" + options.get(key) + "' (expected: no encryption; vdisk reads and writes encrypted qcow2 images but does not create them yet)");
      }
    }
    String compat = options.getOrDefault("compat", "1.1");
    int version = switch (compat) {
      case "0.10", "v2" -> 2;
      case "1.1", "v3" -> 3;
      default -> throw bad("compat", compat, "0.10, v2, 1.1 or v3");
    };
    String cs = options.getOrDefault("cluster_size", "65536");
    long clusterSize = size("cluster_size", cs);
    if (clusterSize < 512 || clusterSize > (2 << 20) || Long.bitCount(clusterSize) != 1) {
      throw bad("cluster_size", cs, "a power of two from 512 to 2M");
    }
    int clusterBits = Long.numberOfTrailingZeros(clusterSize);
    String rb = options.getOrDefault("refcount_bits", "16");
    long refcountBits;
    try {
      refcountBits = Long.decode(rb.strip());
    } catch (NumberFormatException e) {
      refcountBits = -1;
    }
    if (refcountBits < 1 || refcountBits > 64 || Long.bitCount(refcountBits) != 1) {
      throw bad("refcount_bits", rb, "a power of two from 1 to 64");
    }
    if (version < 3 && refcountBits != 16) {
      throw bad("refcount_bits", rb, "16 with compat=" + compat + ", other widths need compat=1.1");
    }
    boolean lazy = bool(options, "lazy_refcounts");
    if (lazy && version < 3) {
      throw bad("lazy_refcounts", options.get("lazy_refcounts"), "off with compat=" + compat + ", lazy refcounts need compat=1.1");
    }
    boolean extendedL2 = bool(options, "extended_l2");
    if (extendedL2 && version < 3) {
      throw bad("extended_l2", options.get("extended_l2"), "off with compat=" + compat + ", extended L2 entries need compat=1.1");
    }
    if (extendedL2 && clusterBits < Qcow2Header.MIN_EXTENDED_L2_CLUSTER_BITS) {
      throw bad("cluster_size", cs, "at least 16k with extended_l2=on");
    }
    String ct = options.getOrDefault("compression_type", "zlib");
    int compressionType = switch (ct) {
      case "zlib" -> 0;
      case "zstd" -> 1;
      default -> throw bad("compression_type", ct, "zlib or zstd");
    };
    if (compressionType != 0 && version < 3) {
      throw bad("compression_type", ct, "zlib with compat=" + compat + ", zstd needs compat=1.1");
    }
    Preallocation prealloc = Preallocation.parse(options.getOrDefault("preallocation", "off"), "qcow2",
        List.of(Preallocation.values()));
    Optional<String> backing = Optional.ofNullable(options.get("backing_file"));
    Optional<String> backingFormat = Optional.ofNullable(options.get("backing_fmt"));
    if (backing.isPresent() && backing.get().isEmpty()) {
      throw bad("backing_file", "", "a file name");
    }
    if (backing.isPresent() && backing.get().length() > Qcow2Header.MAX_BACKING_FILE_NAME) {
      throw bad("backing_file", backing.get(), "a name of at most " + Qcow2Header.MAX_BACKING_FILE_NAME + " bytes");
    }
    if (backingFormat.isPresent() && backing.isEmpty()) {
      throw bad("backing_fmt", backingFormat.get(), "no backing_fmt without a backing_file (-b)");
    }
    if (backingFormat.isPresent() && (backingFormat.get().isEmpty() || backingFormat.get().length() > HeaderExtensions.MAX_BACKING_FORMAT)) {
      throw bad("backing_fmt", backingFormat.get(), "a format name of 1 to " + HeaderExtensions.MAX_BACKING_FORMAT + " bytes");
    }
    if (backing.isPresent() && prealloc != Preallocation.OFF && !extendedL2) {
      throw bad("preallocation", prealloc.spelling(), "off with a backing file, unless extended_l2=on");
    }
    Optional<String> dataFile = Optional.ofNullable(options.get("data_file"));
    if (dataFile.isPresent() && dataFile.get().isEmpty()) {
      throw bad("data_file", "", "a file name");
    }
    if (dataFile.isPresent() && version < 3) {
      throw bad("data_file", dataFile.get(), "no data_file with compat=" + compat + ", external data files need compat=1.1");
    }
    boolean dataFileRaw = bool(options, "data_file_raw");
    if (dataFileRaw && dataFile.isEmpty()) {
      throw bad("data_file_raw", options.get("data_file_raw"), "off without a data_file");
    }
    if (dataFileRaw && backing.isPresent()) {
      throw bad("data_file_raw", options.get("data_file_raw"), "off with a backing file");
    }
    if (dataFileRaw && prealloc == Preallocation.OFF) {
      prealloc = Preallocation.METADATA;
    }
    return new Qcow2CreateOptions(version, clusterBits, Long.numberOfTrailingZeros(refcountBits), lazy, extendedL2,
        compressionType, prealloc, backing, backingFormat, dataFile, dataFileRaw);
  }

  /**
   * Parses {@code options} as {@code qemu-img measure} reads them ({@code qcow2_measure}): encryption is refused, the
   * options that change the numbers ({@code extended_l2}, {@code cluster_size}, {@code compat}, {@code refcount_bits},
   * {@code preallocation}) are checked together, and {@code backing_file} counts by its presence alone (an empty name
   * too, as in QEMU); the others are neither checked nor kept, so qemu-img's combinations that only creating refuses
   * (lazy refcounts with compat 0.10, a preallocated image over a backing file) measure as qemu-img measures them;
   * but every boolean must be one ({@code lazy_refcounts}, {@code data_file_raw}), as QemuOpts checks types first.
   *
   * @throws IllegalArgumentException {@code option: 'value' (expected: ...)} for the first problem found
   */
  public static Qcow2CreateOptions parseForMeasure(Map<String, String> options) {
    for (String key : options.keySet()) {
      if (ENCRYPTION.contains(key)) {
        parse(Map.of(key, options.get(key)));
      }
    }
    // QemuOpts checks each option's type before qcow2_measure reads any: a boolean that is none is refused.
    bool(options, "lazy_refcounts");
    bool(options, "data_file_raw");
    Map<String, String> layout = new java.util.LinkedHashMap<>();
    for (String key : List.of("extended_l2", "cluster_size", "compat", "refcount_bits", "preallocation")) {
      if (options.containsKey(key)) {
        layout.put(key, options.get(key));
      }
    }
    Qcow2CreateOptions o = parse(layout);
    return new Qcow2CreateOptions(o.version, o.clusterBits, o.refcountOrder, false, o.extendedL2, 0, o.preallocation,
        Optional.ofNullable(options.get("backing_file")), Optional.empty(), Optional.empty(), false);
  }

  Geometry geometry() {
    return new Geometry(clusterBits, extendedL2);
  }

  RefcountWidth refcountWidth() {
    return new RefcountWidth(refcountOrder);
  }

  /** QEMU's on/off booleans (also yes/no, true/false); absent is off. */
  private static boolean bool(Map<String, String> options, String name) {
    String v = options.get(name);
    if (v == null) {
      return false;
    }
    return switch (v) {
      case "on", "yes", "true", "y" -> true;
      case "off", "no", "false", "n" -> false;
      default -> throw bad(name, v, "on or off");
    };
  }

  /** A byte count with qemu's binary suffixes k, M, G (as QemuOpts sizes). */
  private static long size(String name, String text) {
    String t = text.strip();
    long mul = 1;
    if (!t.isEmpty()) {
      int unit = "bkmgtpe".indexOf(Character.toLowerCase(t.charAt(t.length() - 1)));
      if (unit >= 0) {
        mul = 1L << (10 * unit);
        t = t.substring(0, t.length() - 1);
      }
    }
    try {
      long v = Long.parseLong(t);
      if (v < 0 || v > Long.MAX_VALUE / mul) {
        throw new NumberFormatException();
      }
      return v * mul;
    } catch (NumberFormatException e) {
      throw bad(name, text, "a power of two from 512 to 2M, like 65536 or 64k");
    }
  }

  private static IllegalArgumentException bad(String name, String value, String expected) {
    return new IllegalArgumentException(name + ": '" + value + "' (expected: " + expected + ")");
  }
}
