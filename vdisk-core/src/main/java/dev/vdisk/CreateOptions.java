package dev.vdisk;

import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.qcow2.Qcow2CreateOptions;
import dev.vdisk.io.Preallocation;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The options of a new image, one record per format, with qemu-img's defaults. The values are checked together
 * when the image is created ({@link Vdisk#create}), before any file is touched, with the same messages as
 * {@code vdisk create -o}.
 */
public sealed interface CreateOptions {
  /** The format's name. */
  String format();

  /** The options in qemu-img's {@code -o} spelling, as the format driver takes them. */
  Map<String, String> toQemuOptions();

  /** Raw with no preallocation. */
  static Raw raw() {
    return new Raw(Preallocation.OFF);
  }

  /** A builder for qcow2 with qemu-img 7.2's defaults. */
  static Qcow2.Builder qcow2() {
    return new Qcow2.Builder();
  }

  /**
   * Parses qemu-img's {@code -o} options of {@code format} (already split into keys and values).
   *
   * @throws IllegalArgumentException for an unknown format, option or value, naming it and what was expected
   */
  static CreateOptions parse(String format, Map<String, String> options) {
    ImageFormat f = FormatRegistry.byName(format);
    f.checkOptionNames(options);
    return switch (f.name()) {
      case "raw" -> new Raw(Preallocation.parse(options.getOrDefault("preallocation", "off"), "raw",
          List.of(Preallocation.OFF, Preallocation.FALLOC, Preallocation.FULL)));
      case "qcow2" -> Qcow2.of(Qcow2CreateOptions.parse(options));
      default -> throw new IllegalArgumentException("format: '" + format + "' (expected: raw or qcow2)");
    };
  }

  /**
   * Parses qemu-img's {@code -o} options of {@code format} as {@code qemu-img measure} reads them, for
   * {@link Vdisk#measure}: the names are checked, but of the values only those that change the numbers (for qcow2
   * the cluster size, extended L2, compat, refcount width, preallocation, and a backing file's presence; encryption
   * is refused), so a combination that creating refuses measures as qemu-img measures it. The options not checked
   * are not kept.
   *
   * @throws IllegalArgumentException for an unknown format, option or value, naming it and what was expected
   */
  static CreateOptions parseForMeasure(String format, Map<String, String> options) {
    ImageFormat f = FormatRegistry.byName(format);
    if (!f.name().equals("qcow2")) {
      return parse(format, options);
    }
    f.checkOptionNames(options);
    return Qcow2.of(Qcow2CreateOptions.parseForMeasure(options));
  }

  /**
   * A raw image.
   *
   * @param preallocation {@code off}, {@code falloc} or {@code full}
   */
  record Raw(Preallocation preallocation) implements CreateOptions {
    @Override
    public String format() {
      return "raw";
    }

    @Override
    public Map<String, String> toQemuOptions() {
      return Map.of("preallocation", preallocation.spelling());
    }
  }

  /**
   * A qcow2 image.
   *
   * @param compat the version: {@code 0.10} (version 2) or {@code 1.1} (version 3)
   * @param clusterSize bytes per cluster, a power of two from 512 to 2 MiB
   * @param refcountBits bits per refcount, a power of two from 1 to 64 (other than 16 needs compat 1.1)
   * @param lazyRefcounts refcounts written back at close only (compat 1.1)
   * @param extendedL2 subclusters: 32 per cluster (compat 1.1, clusters of at least 16 KiB)
   * @param compressionType {@code zlib} or {@code zstd} (compat 1.1)
   * @param preallocation {@code off}, {@code metadata}, {@code falloc} or {@code full}
   * @param backingFile the backing file's name as it will be recorded (relative to the image's directory)
   * @param backingFormat the backing file's format (only with a backing file)
   * @param dataFile an external data file's name as it will be recorded (compat 1.1; relative to the current
   *     directory, as in QEMU)
   * @param dataFileRaw the data file is a valid raw image of the disk (only with a data file)
   */
  record Qcow2(String compat, long clusterSize, int refcountBits, boolean lazyRefcounts, boolean extendedL2,
      String compressionType, Preallocation preallocation, Optional<String> backingFile, Optional<String> backingFormat,
      Optional<String> dataFile, boolean dataFileRaw) implements CreateOptions {

    @Override
    public String format() {
      return "qcow2";
    }

    @Override
    public Map<String, String> toQemuOptions() {
      Map<String, String> o = new LinkedHashMap<>();
      o.put("compat", compat);
      o.put("cluster_size", Long.toString(clusterSize));
      o.put("refcount_bits", Integer.toString(refcountBits));
      o.put("lazy_refcounts", onOff(lazyRefcounts));
      o.put("extended_l2", onOff(extendedL2));
      o.put("compression_type", compressionType);
      o.put("preallocation", preallocation.spelling());
      backingFile.ifPresent(v -> o.put("backing_file", v));
      backingFormat.ifPresent(v -> o.put("backing_fmt", v));
      dataFile.ifPresent(v -> o.put("data_file", v));
      if (dataFileRaw) {
        o.put("data_file_raw", "on");
      }
      return o;
    }

    private static String onOff(boolean b) {
      return b ? "on" : "off";
    }

    /** The typed form of options the qcow2 driver parsed. */
    private static Qcow2 of(Qcow2CreateOptions p) {
      return new Qcow2(p.version() == 2 ? "0.10" : "1.1", 1L << p.clusterBits(), 1 << p.refcountOrder(),
          p.lazyRefcounts(), p.extendedL2(), p.compressionType() == 1 ? "zstd" : "zlib", p.preallocation(),
          p.backingFile(), p.backingFormat(), p.dataFile(), p.dataFileRaw());
    }

    /** Builds {@link Qcow2} options from qemu-img 7.2's defaults; every setter returns the builder. */
    public static final class Builder {
      private String compat = "1.1";
      private long clusterSize = 65536;
      private int refcountBits = 16;
      private boolean lazyRefcounts;
      private boolean extendedL2;
      private String compressionType = "zlib";
      private Preallocation preallocation = Preallocation.OFF;
      private String backingFile;
      private String backingFormat;
      private String dataFile;
      private boolean dataFileRaw;

      private Builder() {}

      /** {@code 0.10} or {@code 1.1} (default). */
      public Builder compat(String value) {
        this.compat = value;
        return this;
      }

      /** Bytes per cluster (default 65536). */
      public Builder clusterSize(long bytes) {
        this.clusterSize = bytes;
        return this;
      }

      /** Bits per refcount (default 16). */
      public Builder refcountBits(int bits) {
        this.refcountBits = bits;
        return this;
      }

      /** Lazy refcounts (default off). */
      public Builder lazyRefcounts(boolean on) {
        this.lazyRefcounts = on;
        return this;
      }

      /** Extended L2 entries (default off). */
      public Builder extendedL2(boolean on) {
        this.extendedL2 = on;
        return this;
      }

      /** {@code zlib} (default) or {@code zstd}. */
      public Builder compressionType(String type) {
        this.compressionType = type;
        return this;
      }

      /** Preallocation (default off). */
      public Builder preallocation(Preallocation mode) {
        this.preallocation = mode;
        return this;
      }

      /** A backing file and its format. */
      public Builder backing(String file, String format) {
        this.backingFile = file;
        this.backingFormat = format;
        return this;
      }

      /** An external data file; {@code raw} keeps it a valid raw image of the disk. */
      public Builder dataFile(String file, boolean raw) {
        this.dataFile = file;
        this.dataFileRaw = raw;
        return this;
      }

      /** The options (checked when the image is created). */
      public Qcow2 build() {
        return new Qcow2(compat, clusterSize, refcountBits, lazyRefcounts, extendedL2, compressionType, preallocation,
            Optional.ofNullable(backingFile), Optional.ofNullable(backingFormat), Optional.ofNullable(dataFile),
            dataFileRaw);
      }
    }
  }
}
