package dev.vdisk.cli;

import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.ImageUser;
import dev.vdisk.ops.ConvertOptions;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk convert [-f fmt] [-O output_fmt] [-o options] [-S threshold] [-m N] [-W] [-r rate] [--salvage] [-C] [-p] [-q] [-t cache]
 * [-T src_cache] [-n] [--target-is-zero] [--bitmaps [--skip-broken-bitmaps]] [--force] [-U] SRC DST}: qemu-img convert's options and defaults
 * (output format raw, target cache {@code unsafe}, source cache {@code writeback}, {@code -S 4k}, {@code -m 8}),
 * over {@link Vdisk#convert(BlockDevice, String, Image, String, ConvertOptions, Progress)}.
 *
 * <p>An existing DST is replaced as qemu-img replaces it (once QEMU's image lock for a writer is held on it), or
 * written into with {@code -n}; {@code --force} is accepted and changes nothing. A DST that is the source file is
 * refused. With a backing file for the target ({@code -B BACKING -F FMT}, or {@code -o backing_file=...}) only what
 * the source's top layer defines is written, as qemu-img does ({@link ConvertOptions#overBacking}). A raw target on
 * RBD is written out of order, as with {@code -W} (see {@code unorderedOntoRbd}). {@code -l} reads an internal
 * snapshot; {@code -r} limits the target's writes as QEMU's throttle does. Every argument is checked,
 * and the source opened, before DST is created or opened.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk convert -p -O qcow2 disk.raw disk.qcow2", "  vdisk convert -c -O qcow2 -o compression_type=zstd disk.qcow2 small.qcow2"},
    description = "Copy an image into a new (or existing) one.")
final class ConvertCommand implements Callable<Integer> {
  /** NBD connections a copy reads over at most, where the source's server allows several. */
  private static final int MAX_NBD_CONNECTIONS = 4;

  @ParentCommand Main main;

  @Mixin ImageOptions source;

  @Option(names = "-O", paramLabel = "OUTPUT_FMT", defaultValue = "raw", description = "Target format (default: raw).")
  String outputFormat;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Target creation options, key=value[,key=value]... (repeatable).")
  List<String> options = new ArrayList<>();

  /** Null when not given: 4k, and -C allowed (qemu-img refuses -C with an explicit -S). */
  @Option(names = "-S", paramLabel = "SIZE",
      description = "Zero runs in data at least this long stay sparse (default 4k; 0 writes everything as data).")
  String sparse;

  @Option(names = "-C", description = "Copy offloading: data stored verbatim in a host file goes into a raw target file"
      + " by the kernel's copy_file_range, whole (zero runs inside it are copied).")
  boolean offload;

  @Option(names = "-m", paramLabel = "N", defaultValue = "8", description = "Parallel copy workers, 1 to 16 (default 8).")
  String workers;

  @Option(names = "-W", description = "Write the target out of order.")
  boolean outOfOrder;

  @Option(names = "--salvage", description = "Where the source cannot be read, read it again 512 bytes at a time and "
      + "write zeroes for each sector that still fails (with a warning), instead of failing.")
  boolean salvage;

  @Option(names = "-r", paramLabel = "RATE", description = "Write the target at most RATE bytes per second (k, M, G "
      + "suffixes), zeroes included.")
  String rate;

  @Option(names = "-p", description = "Show a progress bar.")
  boolean progress;

  @Option(names = "-q", description = "Quiet: no progress bar.")
  boolean quiet;

  @Option(names = "-t", paramLabel = "CACHE", defaultValue = "unsafe", description = "Target cache mode (default: unsafe).")
  String cache;

  @Option(names = "-T", paramLabel = "SRC_CACHE", defaultValue = "writeback", description = "Source cache mode (default: writeback).")
  String sourceCache;

  @Option(names = "-n", description = "Do not create the target: write into the existing DST.")
  boolean noCreate;

  @Option(names = "--target-is-zero", description = "With -n: the target reads as zeroes already; zeroes are not written.")
  boolean targetIsZero;

  @Option(names = "--force", description = "Accepted for scripts written for older vdisk: an existing DST is replaced anyway.")
  boolean force;

  @Option(names = "-c", description = "Compress the target's data clusters (qcow2 only; -o compression_type=zlib|zstd).")
  boolean compress;

  @Option(names = "--bitmaps", description = "Copy the source's persistent dirty bitmaps (qcow2 to qcow2).")
  boolean bitmaps;

  @Option(names = "--skip-broken-bitmaps", description = "With --bitmaps: skip inconsistent bitmaps instead of failing.")
  boolean skipBrokenBitmaps;

  /** The source's internal snapshot that {@code -l} names, read instead of its active layer; null without -l. */
  private BlockDevice snapshotView;

  @Option(names = "-l", paramLabel = "SNAPSHOT", description = "Convert internal snapshot SNAPSHOT (an ID or name, or "
      + "snapshot.id=ID[,snapshot.name=NAME]) of a qcow2 source instead of its active layer, without applying it.")
  String snapshot;

  @Option(names = "-B", paramLabel = "BACKING_FILE",
      description = "The target's backing file: only what the source's top layer defines is written (needs -F).")
  String backing;

  @Option(names = "-F", paramLabel = "BACKING_FMT", description = "The format of the target's backing file (-B).")
  String backingFormat;

  @Option(names = "--target-image-opts", description = "DST is a QEMU option string, as FILE of --image-opts.")
  boolean targetImageOpts;

  @Parameters(index = "0", arity = "0..1", paramLabel = "SRC", description = "The source image.")
  String src;

  @Parameters(index = "1", arity = "0..1", paramLabel = "DST", description = "The target image.")
  String dst;

  /** What follows DST: qemu-img concatenates several sources into the last name, which vdisk does not. */
  @Parameters(index = "2..*", hidden = true)
  List<String> more = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    ConvertOptions copy = copyOptions();
    CacheMode targetCache = CacheMode.parse(cache);
    CacheMode srcCache = CacheMode.parse(sourceCache);
    ImageFormat fmt = FormatRegistry.byName(outputFormat);
    String joined = String.join(",", options);
    if (OptionHelp.asked(joined)) {
      OptionHelp.print(fmt, dst != null, main.out());
      return 0;
    }
    if (dst == null) {
      throw new CliException("missing " + (src == null ? "SRC and DST" : "DST") + " (expected: vdisk convert [options] SRC DST)");
    }
    if (!more.isEmpty()) {
      throw new CliException((more.size() + 1) + " sources: concatenating several sources into one target is not "
          + "supported (expected: vdisk convert [options] SRC DST)");
    }
    if (noCreate && !joined.isEmpty()) {
      throw new CliException("-o: '" + joined + "' has no effect with -n (expected: no -o when the target is not created)");
    }
    if (targetImageOpts && !noCreate) {
      // qemu-img's rule: the options name an image to open (its driver, its key), not one to create.
      throw new CliException("--target-image-opts requires use of -n flag");
    }
    if (targetIsZero && !noCreate) {
      throw new CliException("--target-is-zero: requires -n (expected: -n, the target must exist)");
    }
    Map<String, String> createOptions = withBacking(fmt, OptionString.parse(joined));
    fmt.checkOptionNames(createOptions);
    checkCompression(fmt, createOptions);
    if (skipBrokenBitmaps && !bitmaps) {
      throw new CliException("Use of --skip-broken-bitmaps requires --bitmaps");
    }
    ImageSpec targetSpec = ImageSpec.parse(dst, targetImageOpts);
    // Parallel workers read over several NBD connections where the server allows it (as nbdcopy does).
    source.nbdConnections = Math.min(copy.workers(), MAX_NBD_CONNECTIONS);
    try (Image in = source.open(src, srcCache, true, ImageUser.COPY_SOURCE, main.err())) {
      if (snapshot != null) {
        snapshotView = SnapshotSource.open(in, snapshot);
      }
      long size = (snapshotView != null ? snapshotView : in).size();
      if (DeviceTarget.isDevice(targetSpec)) {
        if (bitmaps) {
          ConvertBitmaps.checkSource(in, skipBrokenBitmaps);
        }
        ontoDevice(in, fmt, targetSpec, size, createOptions, copy, targetCache);
        return 0;
      }
      Path target = Path.of(targetSpec.file());
      checkTarget(target);
      if (bitmaps) {
        ConvertBitmaps.checkSource(in, skipBrokenBitmaps);
      }
      if (!noCreate) {
        create(fmt, target, size, createOptions);
      }
      copy = unorderedOntoRbd(copy, fmt, targetSpec.file());
      // --target-image-opts names the format (driver=) and an encrypted target's key (encrypt.key-secret=), as qemu-img.
      String targetFormat = targetSpec.format() != null ? targetSpec.format() : fmt.name();
      byte[] targetKey = targetSpec.keySecret() == null ? null : SecretObject.value(source.secrets, targetSpec.keySecret());
      try (Image out = Vdisk.open(target, OpenOptions.builder().format(targetFormat).cache(targetCache)
          .encryptionKey(targetKey).build())) {
        // A new image reads as zeroes, unless it has a backing file (qemu-img's has_zero_init).
        boolean backed = createOptions.containsKey("backing_file") || noCreate && backing != null;
        copy(in, out, copy.withTargetIsZero(targetIsZero || (!noCreate && copy.sparseBytes() > 0 && !backed))
            .withOverBacking(backed));
      }
    } finally {
      if (snapshotView != null) {
        snapshotView.close();
      }
    }
    return 0;
  }

  /**
   * DST on an NBD export or a host block device: the format is written onto it unless {@code -n}, never truncated;
   * the device holds old data, so zeroes are written where the source reads as zero (qemu-img: no zero init) unless
   * {@code --target-is-zero}.
   */
  private void ontoDevice(Image in, ImageFormat fmt, ImageSpec target, long size, Map<String, String> createOptions,
      ConvertOptions copy, CacheMode targetCache) throws IOException {
    if (!target.isNbd() && DeviceTarget.isSameFile(target.file(), ImageSpec.parse(src, source.imageOpts).file())) {
      throw new CliException(dst + ": is the source image (expected: a different target)");
    }
    BlockDevice device = DeviceTarget.open(target, source.sibling(null), targetCache);
    try {
      if (!noCreate) {
        try {
          Vdisk.create(device, size, CreateOptions.parse(fmt.name(), createOptions));
        } catch (IOException e) {
          throw new CliException(dst + ": error while converting " + fmt.name() + ": " + Main.describe(e), e);
        }
      }
      ImageContext context = target.isNbd() ? new NbdImageContext(target.label(), false, true)
          : Vdisk.fileContext(Path.of(target.file()), FileOptions.of(targetCache, false));
      Image out = Vdisk.open(device, context, OpenOptions.builder().format(fmt.name()).cache(targetCache).build());
      device = null; // the image owns it now
      try (out) {
        copy(in, out, copy.withTargetIsZero(targetIsZero));
      }
    } finally {
      if (device != null) {
        device.close();
      }
    }
  }

  /**
   * Copies the source (or its snapshot's view, with {@code -l}) into {@code out} through the front door, with the
   * progress bar and, with {@code --bitmaps}, the bitmaps after the data.
   */
  private void copy(Image in, Image out, ConvertOptions copy) throws IOException {
    if (bitmaps) {
      ConvertBitmaps.checkTarget(out);
    }
    Progress bar = ProgressBars.start("convert", progress && !quiet, main.err());
    try {
      Vdisk.convert(snapshotView != null ? snapshotView : in, source.label(src), out, dst, copy.withCompressed(compress),
          bar);
    } finally {
      ProgressBars.finish(bar);
    }
    if (bitmaps) {
      ConvertBitmaps.copy(in, out, main.err());
    }
  }

  /** Creates DST; a failure is reported in qemu-img's words: {@code DST: error while converting FMT: why}. */
  private void create(ImageFormat fmt, Path target, long size, Map<String, String> createOptions) throws IOException {
    try {
      Vdisk.create(target, size, CreateOptions.parse(fmt.name(), createOptions), true);
    } catch (IOException e) {
      String why = Main.describe(e);
      throw new CliException(dst + ": error while converting " + fmt.name() + ": "
          + (why.startsWith(dst + ": ") ? why.substring(dst.length() + 2) : why), e);
    }
  }

  /** qemu-img's checks for -c, before anything is created: a format that compresses, and no preallocation. */
  private void checkCompression(ImageFormat fmt, Map<String, String> createOptions) {
    if (!compress) {
      return;
    }
    if (!fmt.supportsCompression()) {
      throw new CliException("-c: Compression not supported for this file format (expected: -O qcow2)");
    }
    String prealloc = createOptions.getOrDefault("preallocation", "off");
    if (!prealloc.equals("off")) {
      throw new CliException("-c: Compression and preallocation not supported at the same time (expected: no -o preallocation="
          + prealloc + " with -c)");
    }
  }

  /**
   * The creation options with {@code -B} and {@code -F} as {@code backing_file} and {@code backing_fmt}; qemu-img's
   * errors for a format without backing files and a backing file without a format.
   */
  private Map<String, String> withBacking(ImageFormat fmt, Map<String, String> createOptions) {
    if (backing == null) {
      return createOptions;
    }
    if (!fmt.supportsBacking()) {
      throw new CliException("Backing file not supported for file format '" + fmt.name() + "'");
    }
    Map<String, String> with = new LinkedHashMap<>(createOptions);
    with.putIfAbsent("backing_file", backing);
    if (backingFormat != null) {
      with.putIfAbsent("backing_fmt", backingFormat);
    }
    if (!with.containsKey("backing_fmt")) {
      throw new CliException("Use of backing file requires explicit backing format");
    }
    return noCreate ? createOptions : with;
  }

  private ConvertOptions copyOptions() {
    // qemu-img's words and order of checks.
    if (offload && sparse != null) {
      throw new CliException("Cannot enable copy offloading when -S is used");
    }
    if (offload && compress) {
      throw new CliException("Cannot enable copy offloading when -c is used");
    }
    long s = Sizes.parse("-S", sparse == null ? "4k" : sparse);
    if (s % 512 != 0 || s > ConvertOptions.MAX_SPARSE) {
      throw new CliException("-S: '" + sparse + "' (expected: a multiple of 512 up to " + ConvertOptions.MAX_SPARSE
          + ", or 0 to disable sparse detection and fully allocate the output)");
    }
    int m = Args.integer("-m", workers, 1, ConvertOptions.MAX_WORKERS);
    long r = rate == null ? 0 : Sizes.rateLimit(rate);
    return ConvertOptions.DEFAULTS.withSparseBytes((int) s).withWorkers(m).withInOrder(!outOfOrder).withOffload(offload)
        .withRateLimit(r).withSalvage(salvage);
  }

  /**
   * A raw target on RBD is written out of order, as with {@code -W}: RBD places every byte by its offset in an object,
   * so the order of the writes leaves the same image, and in order only one write is at librbd at a time (qemu-img's
   * convert: one 2 MiB write waiting for the OSD after another) where out of order each worker has its write in flight.
   * A format that allocates as it is written (qcow2) keeps its order.
   */
  private static ConvertOptions unorderedOntoRbd(ConvertOptions copy, ImageFormat fmt, String target) {
    return fmt.name().equals("raw") && RbdImages.isRbd(target) ? copy.withInOrder(false) : copy;
  }

  /** DST must exist with -n, and may never be the source itself. */
  private void checkTarget(Path target) throws IOException {
    // An RBD target is checked by the cluster: creating one that exists fails, opening one that does not too.
    boolean exists = RbdImages.isRbd(dst) || Files.exists(target, LinkOption.NOFOLLOW_LINKS);
    if (noCreate && !exists) {
      throw new CliException(dst + ": no such file (expected: an existing target with -n)");
    }
    if (!exists) {
      return;
    }
    if (DeviceTarget.isSameFile(dst, ImageSpec.parse(src, source.imageOpts).file())) {
      throw new CliException(dst + ": is the source image (expected: a different target)");
    }
  }
}
