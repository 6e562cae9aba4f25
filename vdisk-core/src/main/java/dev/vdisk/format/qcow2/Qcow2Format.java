package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.MeasureSource;
import dev.vdisk.format.Measurement;
import dev.vdisk.format.Repair;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * QEMU's qcow2 format, versions 2 (compat 0.10) and 3 (compat 1.1): creates images exactly as qemu-img 7.2 does
 * ({@link #create}), measures them ({@link #measure}), and opens them for reading and writing ({@link Qcow2Writer}:
 * copy-on-write allocation, zero clusters, discard, ordered metadata flushes).
 *
 * <p>Reads: every cluster size QEMU makes (512 bytes to 2 MiB), refcount widths of 1 to 64 bits, zero clusters,
 * extended L2 entries (32 subclusters per cluster), zlib and zstd compressed clusters, external data files (with
 * or without data_file_raw: either way a cluster's data lives at its guest offset there), backing chains of up
 * to 64 images of any format vdisk reads, and the internal snapshot table (listed, not yet readable). Images that
 * are dirty or marked corrupt are readable. Refused: encrypted images, unknown incompatible feature bits, and
 * anything malformed; every rejection names the field, its value and what was expected.
 *
 * <p><b>Memory bound per image</b> (each image of a backing chain has its own): the L1 table, at most 32 MiB
 * (QEMU's limit) and never more than the file holds; the L2 cache, at most the configured size (default
 * {@link #DEFAULT_L2_CACHE_SIZE}, filled only as tables are used); the snapshot list (entries are read one by one,
 * the table is at most 64 MiB by QEMU's limit); the first cluster (at most 2 MiB) during open; and per request in
 * flight, one cluster plus at most two clusters of compressed input (at most 6 MiB at 2 MiB clusters) for
 * compressed clusters. The refcount table is not read.
 */
public final class Qcow2Format implements ImageFormat {
  /**
   * QEMU's default maximum L2 cache on Linux: 32 MiB, which maps 256 GiB of guest disk at 64 KiB clusters
   * (128 GiB with extended L2 entries). Tables are loaded on first use, so small images use less.
   */
  public static final long DEFAULT_L2_CACHE_SIZE = 32L << 20;

  private static final int MAGIC = 0x514649fb;

  private final long l2CacheSize;

  /** A driver with the default L2 cache size. */
  public Qcow2Format() {
    this(DEFAULT_L2_CACHE_SIZE);
  }

  /**
   * A driver whose images each cache up to {@code l2CacheSize} bytes of L2 tables, like QEMU's
   * {@code l2-cache-size}; rounded down to whole tables, at least two. Backing images are opened by their
   * {@link ImageContext}, with the registered driver of their format.
   */
  public Qcow2Format(long l2CacheSize) {
    if (l2CacheSize < 0) {
      throw new IllegalArgumentException("l2-cache-size: " + l2CacheSize + " (expected: >= 0)");
    }
    this.l2CacheSize = l2CacheSize;
  }

  @Override
  public String name() {
    return "qcow2";
  }

  /**
   * 100 for the qcow2 magic followed by a version field, whatever the version, else 0: a file with the magic is a
   * qcow2 image or an error ({@link #open} names an unsupported version), never a raw disk to serve and write.
   * QEMU probes version 1 as its old qcow format and version 0 as raw; vdisk reads neither.
   */
  @Override
  public int probe(ByteBuffer head) {
    return head.remaining() >= 8 && head.getInt(head.position()) == MAGIC ? 100 : 0;
  }

  /** qemu-img 7.2's qcow2 creation options; the encryption ones are accepted only to be refused with a reason. */
  @Override
  public Set<String> createOptionNames() {
    return Qcow2CreateOptions.acceptedNames();
  }

  /**
   * Creates an image byte for byte as {@code qemu-img create -f qcow2} 7.2 does with the same options (see
   * {@link Qcow2CreateOptions}); the size is rounded up to a multiple of 512 as QEMU rounds it. A backing file is
   * recorded as given and not opened here (the caller checks it). An external data file is created too (raw,
   * with the image's preallocation; a relative name is taken relative to the current directory, as QEMU 7.2 does) and refused if
   * it exists unless {@code overwrite}. Every option is checked before any file is touched.
   */
  @Override
  public void create(Path path, long size, Map<String, String> options, boolean overwrite) throws IOException {
    checkOptionNames(options);
    Qcow2CreateOptions o = Qcow2CreateOptions.parse(options);
    long rounded = Math.ceilDiv(size, 512) * 512;
    Qcow2Creator.l1Entries(rounded, o.geometry());
    if (HeaderEncoder.bytesNeeded(o) > 1 << o.clusterBits()) {
      throw new IllegalArgumentException("backing_file: '" + o.backingFile().orElse("") + "' (expected: header, extensions and names within the first cluster of "
          + (1 << o.clusterBits()) + " bytes; use shorter names or a larger cluster_size)");
    }
    Path dataPath = o.dataFile().isPresent() ? ImageContext.resolveDataFile(o.dataFile().get()) : null;
    if (dataPath != null && !overwrite && Files.exists(dataPath, LinkOption.NOFOLLOW_LINKS)) {
      throw new FileAlreadyExistsException(dataPath.toString(), null, "data_file exists");
    }
    Qcow2Creator.Files layout = Qcow2Creator.layOut(o, rounded);
    if (overwrite && Files.exists(path) && !Files.isRegularFile(path)) {
      throw new IOException(path + ": not a regular file (expected: a path for a new image file)");
    }
    // The image file first, as QEMU: an image in use by another process stops the creation before its data file is
    // touched. Its metadata is written before the data file is made, so that a failure leaves neither file behind.
    FileDevice.create(path, overwrite, file -> {
      layout.image().writeTo(file);
      if (dataPath != null) {
        createDataFile(dataPath, rounded, o.preallocation(), layout.dataFile(), overwrite);
      }
      file.flush();
    });
  }

  /**
   * The image's metadata written onto a device that keeps its size: every metadata cluster whole, so old bytes on
   * the device cannot show through as table entries. An external data file and falloc/full preallocation are
   * refused (they would grow files); the metadata must fit in the device, the guest size need not (the image is
   * thin, as qemu-img's on a host device is).
   */
  @Override
  public void createOn(BlockDevice device, long size, Map<String, String> options) throws IOException {
    checkOptionNames(options);
    Qcow2CreateOptions o = Qcow2CreateOptions.parse(options);
    if (o.dataFile().isPresent() || o.preallocation() == Preallocation.FALLOC || o.preallocation() == Preallocation.FULL) {
      throw new IllegalArgumentException("data_file/preallocation: on a device (expected: no data_file, "
          + "preallocation=off or metadata: a device is not grown)");
    }
    long rounded = Math.ceilDiv(size, 512) * 512;
    Qcow2Creator.l1Entries(rounded, o.geometry());
    if (HeaderEncoder.bytesNeeded(o) > 1 << o.clusterBits()) {
      throw new IllegalArgumentException("backing_file: '" + o.backingFile().orElse("") + "' (expected: header, "
          + "extensions and names within the first cluster of " + (1 << o.clusterBits()) + " bytes)");
    }
    PendingFile image = Qcow2Creator.layOut(o, rounded).image();
    if (image.length() > device.size()) {
      throw new IOException("the device has " + device.size() + " bytes, the image's metadata needs "
          + image.length() + " (expected: a larger device or a smaller image)");
    }
    image.writeWholeClustersTo(device);
    device.flush();
  }

  /**
   * qemu-img 7.2's order: cluster_size, extended_l2, preallocation, compression_type, size, compat, backing_file,
   * backing_fmt, data_file, data_file_raw, lazy_refcounts, refcount_bits; the options with defaults always, the
   * others when given. cluster_size is printed in bytes, the rest as given.
   */
  @Override
  public String createSummary(long size, Map<String, String> options) {
    Map<String, String> shown = new LinkedHashMap<>();
    shown.put("cluster_size", String.valueOf(1 << Qcow2CreateOptions.parse(options).clusterBits()));
    shown.put("extended_l2", options.getOrDefault("extended_l2", "off"));
    shown.put("preallocation", options.get("preallocation"));
    shown.put("compression_type", options.getOrDefault("compression_type", "zlib"));
    shown.put("size", String.valueOf(size));
    for (String k : List.of("compat", "backing_file", "backing_fmt", "data_file", "data_file_raw")) {
      shown.put(k, options.get(k));
    }
    shown.put("lazy_refcounts", options.getOrDefault("lazy_refcounts", "off"));
    shown.put("refcount_bits", options.getOrDefault("refcount_bits", "16"));
    StringBuilder line = new StringBuilder();
    shown.forEach((k, v) -> {
      if (v != null) {
        line.append(line.isEmpty() ? "" : " ").append(k).append('=').append(v);
      }
    });
    return line.toString();
  }

  /**
   * qemu-img 7.2's {@code qcow2_measure}: the fully allocated size is header, L2 and L1 tables, refcount structures
   * and every cluster of the (cluster-rounded) disk; the required size drops the clusters that hold no data (all
   * but the source's data clusters, all of them with a backing file, none with falloc/full preallocation).
   * Only the options that change the numbers are checked, as QEMU checks them.
   */
  @Override
  public Measurement measure(Map<String, String> options, long size, MeasureSource source) throws IOException {
    checkOptionNames(options);
    Qcow2CreateOptions o = Qcow2CreateOptions.parseForMeasure(options);
    Geometry g = o.geometry();
    long cs = g.clusterSize();
    long virtualSize = Math.ceilDiv(size, cs) * cs;
    if (g.l1EntriesFor(virtualSize) > Qcow2Creator.MAX_L1_ENTRIES) {
      throw new IllegalArgumentException("size: " + size + " (expected: at most " + Qcow2Creator.MAX_L1_ENTRIES * g.bytesPerL2()
          + " bytes at cluster_size " + cs + "; try a larger cluster_size)");
    }
    long required = 0;
    if (source != null) {
      virtualSize = Math.ceilDiv(source.size(), cs) * cs;
      required = o.backingFile().isPresent() ? virtualSize : source.dataBytes(cs);
    }
    if (o.preallocation() == Preallocation.FALLOC || o.preallocation() == Preallocation.FULL) {
      required = virtualSize;
    }
    long full = MetadataSize.fullyAllocated(virtualSize, g, o.refcountWidth());
    boolean bitmaps = o.version() >= 3 && source != null && source.supportsBitmaps();
    return new Measurement(full - virtualSize + required, full,
        bitmaps ? java.util.OptionalLong.of(source.bitmapBytes(cs)) : java.util.OptionalLong.empty());
  }

  /**
   * The external data file as QEMU leaves it: created empty, then grown by the image's truncate (raw's first-block
   * write, fallocate or zeroes per the preallocation), unless the zeroes of a partial last cluster were written
   * first and already took it past the disk's end, in which case that write is all it gets.
   */
  private static void createDataFile(Path path, long size, Preallocation prealloc, PendingFile tail, boolean overwrite)
      throws IOException {
    if (tail.length() == 0) {
      Preallocation p = prealloc == Preallocation.METADATA ? Preallocation.OFF : prealloc;
      FormatRegistry.byName("raw").create(path, size, Map.of("preallocation", p.spelling()), overwrite);
      return;
    }
    FileDevice.create(path, overwrite, data -> {
      tail.writeTo(data);
      data.flush();
    });
  }

  /**
   * Opens the image in {@code file} with its data file and backing chain, which {@code context} opens. The image
   * owns {@code file} from here on. {@code probed} changes nothing: a guest's writes cannot reach a qcow2 header.
   */
  @Override
  public FormatImage open(BlockDevice file, ImageContext context, boolean probed) throws IOException {
    return Qcow2Opener.open(file, context, this);
  }

  /** Bytes of L2 tables each image opened by this driver caches at most. */
  long l2CacheSize() {
    return l2CacheSize;
  }

  @Override
  public boolean supportsCheck() {
    return true;
  }

  @Override
  public boolean supportsCompression() {
    return true;
  }

  /** qemu-img check's read-only check: see {@link Qcow2Checker}. */
  @Override
  public CheckResult check(BlockDevice file, Path name, Consumer<CheckProblem> problems) throws IOException {
    return Qcow2Checker.check(file, problems);
  }

  /** qemu-img check -r: see {@link Qcow2Checker}. */
  @Override
  public CheckResult repair(BlockDevice file, Path name, Repair mode, Consumer<CheckProblem> problems)
      throws IOException {
    return Qcow2Checker.repair(file, mode, problems);
  }

  /** qemu-img amend for qcow2: see {@link Qcow2Amender}; {@code size} is left to the caller, a resize. */
  @Override
  public void amend(BlockDevice file, Path name, Map<String, String> options, java.util.function.DoubleConsumer progress,
      Consumer<CheckProblem> problems) throws IOException {
    Qcow2Amender.amend(file, name, options, progress, problems);
  }

  @Override
  public List<String> amendOptionNames() {
    return AmendOptions.NAMES;
  }

  @Override
  public boolean supportsBacking() {
    return true;
  }

  /** qemu-img rebase's header change: see {@link BackingFileChange}. */
  @Override
  public void changeBacking(BlockDevice file, Optional<String> backingFile, Optional<String> backingFormat)
      throws IOException {
    BackingFileChange.change(file, backingFile, backingFormat);
  }

  /**
   * qemu-img snapshot -c on the qcow2 image in {@code file} (a host file nothing else has open, named {@code path}):
   * see {@link InternalSnapshots#create}. Returns the snapshot as listed.
   */
  public static Snapshot createSnapshot(BlockDevice file, Path path, String name, long dateSeconds, long dateNanos)
      throws IOException {
    return InternalSnapshots.of(file, path).create(name, dateSeconds, dateNanos);
  }

  /** qemu-img snapshot -a: see {@link InternalSnapshots#apply}. */
  public static void applySnapshot(BlockDevice file, Path path, String idOrName) throws IOException {
    InternalSnapshots.of(file, path).apply(idOrName);
  }

  /** qemu-img snapshot -d: see {@link InternalSnapshots#delete}. */
  public static void deleteSnapshot(BlockDevice file, Path path, String name) throws IOException {
    InternalSnapshots.of(file, path).delete(name);
  }
}
