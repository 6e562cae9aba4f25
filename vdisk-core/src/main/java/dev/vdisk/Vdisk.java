package dev.vdisk;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.Measurement;
import dev.vdisk.format.Repair;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.internal.ChainMeasureSource;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.format.qcow2.Qcow2Format;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.ops.CompareException;
import dev.vdisk.ops.CompareResult;
import dev.vdisk.ops.ConvertOptions;
import dev.vdisk.ops.Progress;
import dev.vdisk.ops.internal.Commit;
import dev.vdisk.ops.internal.Compare;
import dev.vdisk.ops.internal.Convert;
import dev.vdisk.ops.internal.Named;
import dev.vdisk.ops.internal.RateLimitedWrites;
import dev.vdisk.ops.internal.Rebase;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * vdisk as a library: open, create, check, measure and convert raw and qcow2 images, as qemu-img does, from Java.
 *
 * <pre>{@code
 * Vdisk.create(path, 1 << 30, CreateOptions.qcow2().build(), false);
 * try (Image image = Vdisk.open(path, OpenOptions.builder().build())) {
 *   image.write(0, ByteBuffer.wrap(bytes), Set.of());
 *   image.flush();
 * }
 * }</pre>
 *
 * <p>Errors are {@link IOException}s; failures of the image or device are {@link dev.vdisk.block.BlockDeviceException}s
 * with an errno-like {@link dev.vdisk.block.BlockError}; bad arguments are {@link IllegalArgumentException}s. Every
 * message names what is wrong and what was expected.
 */
public final class Vdisk {
  private Vdisk() {}

  /**
   * Opens the image in the host file {@code path} with its backing chain and data file (a backing file name recorded
   * in the image is relative to {@code path}'s directory, a data file name to the current directory, as in QEMU),
   * under QEMU's image locks.
   *
   * @throws IOException if the file cannot be opened or is not a valid image of the format
   */
  public static Image open(Path path, OpenOptions options) throws IOException {
    FileOptions file = new FileOptions(options.cache(), options.readOnly(), options.forceShare(), true, options.user(),
        options.aio());
    OpenImage stack = options.backing()
        ? Images.open(path, options.format().orElse(null), file, options.encryptionKey().orElse(null))
        : Images.openForFacts(path, options.format().orElse(null), file);
    return new Image(stack, stack.chain(path));
  }

  /**
   * Opens the image whose bytes are {@code device}, any {@link BlockDevice} (memory, a simulated disk, a network
   * device), named and with its other files (backing, data file) opened by {@code context}. Read-only comes from
   * the context, as does opening the backing chain; {@code options} gives the format and the cache mode. On success
   * the image owns {@code device}.
   */
  public static Image open(BlockDevice device, ImageContext context, OpenOptions options) throws IOException {
    if (options.readOnly() != context.readOnly()) {
      throw new IllegalArgumentException("read-only: " + options.readOnly() + " in the options, " + context.readOnly()
          + " in the context (expected: the same)");
    }
    OpenImage stack = Images.open(device, context, options.format().orElse(null), options.cache());
    return new Image(stack, ImageChain.of(stack.device(), context.name(), stack.format().name(), stack.file(),
        context.label()));
  }

  /**
   * The context {@link #open(Path, OpenOptions)} opens an image in, for an image named {@code name} whose bytes are
   * another device (a host block device the caller opened), for {@link #open(BlockDevice, ImageContext,
   * OpenOptions)}: the backing and data files it records are host files (or RBD images), a backing file named
   * relative to {@code name}'s directory, as QEMU's {@code path_combine}, a data file relative to the current
   * directory, as QEMU opens it; the data file is opened with {@code options}, the backing chain read-only with its
   * cache mode, at most 64 images deep and without loops.
   */
  public static ImageContext fileContext(Path name, FileOptions options) {
    return FileContext.of(name, options);
  }

  /**
   * Creates an image of {@code size} bytes at {@code path} (rounded up to 512 bytes, as QEMU rounds it), byte for
   * byte as {@code qemu-img create} 7.2 does with the same options, size 0 included; a backing file is recorded, not
   * opened. A name starting with {@code rbd:} creates an RBD image, which must not exist yet whatever
   * {@code overwrite} says (QEMU's rbd driver refuses an existing one too).
   *
   * @param overwrite replace an existing file instead of failing (once QEMU's write lock is held on it, so an image
   *     another process has open is refused untouched)
   * @throws IllegalArgumentException for a negative size, a bad option or combination, or a size the format cannot
   *     address, before any file is touched
   */
  public static void create(Path path, long size, CreateOptions options, boolean overwrite) throws IOException {
    Images.create(FormatRegistry.byName(options.format()), path, checkedSize(size), options.toQemuOptions(),
        overwrite);
  }

  /**
   * {@code qemu-img create} onto an existing device (a host block device, an NBD export, memory): the format is
   * written onto {@code device}, which is neither truncated nor grown, as QEMU's {@code host_device} and {@code nbd}
   * drivers let qemu-img create one. A raw image zeroes the first sector (so no old header is probed); a qcow2
   * writes its metadata clusters whole. The caller keeps the device; it is flushed before this returns.
   *
   * @throws IllegalArgumentException for a negative size, a bad option, or one that would grow the device (an
   *     external data file, falloc or full preallocation)
   * @throws IOException if the device is too small for the image (raw) or its metadata (qcow2)
   */
  public static void create(BlockDevice device, long size, CreateOptions options) throws IOException {
    FormatRegistry.byName(options.format()).createOn(device, checkedSize(size), options.toQemuOptions());
  }

  private static long checkedSize(long size) {
    if (size < 0) {
      throw new IllegalArgumentException("size: " + size + " (expected: a byte count >= 0)");
    }
    return size;
  }

  /**
   * {@code qemu-img check}: checks the image in {@code path} without changing it. {@code options} gives the format
   * (or probe) and force-share; the image is opened read-only whatever they say.
   *
   * @param listener follows the problems as they are found
   * @throws UnsupportedOperationException if the format has no consistency checks (qemu-img's exit status 63)
   * @throws IOException if the check could not be completed
   */
  public static CheckReport check(Path path, OpenOptions options, CheckListener listener) throws IOException {
    return check(path, options, null, listener);
  }

  /**
   * {@code qemu-img check -r}: repairs what {@code mode} allows and, if anything was fixed, checks the image again;
   * the report holds that second check's counts with the repair's fixed counts. The image is opened for writing,
   * under its lock.
   *
   * @throws UnsupportedOperationException if the format has no consistency checks
   * @throws IOException if the repair could not be done (the image is left consistent: leaks at worst)
   */
  public static CheckReport repair(Path path, Repair mode, OpenOptions options, CheckListener listener)
      throws IOException {
    return check(path, options, mode, listener);
  }

  private static CheckReport check(Path path, OpenOptions options, Repair mode, CheckListener listener)
      throws IOException {
    FileOptions file = new FileOptions(options.cache(), mode == null, options.forceShare(), true).withAio(options.aio());
    try (BlockDevice f = RbdImages.isRbd(path.toString()) ? RbdImages.device(path.toString(), file) : FileDevice.open(path, file)) {
      return check(f, path, options, mode, listener);
    }
  }

  /**
   * {@code qemu-img check} of the image whose bytes are {@code device} (a network export, memory), named by
   * {@code context}; with a {@code mode}, {@code qemu-img check -r} (the device must then be writable). The caller
   * keeps the device.
   *
   * @param mode the repair, or null to check only
   * @throws UnsupportedOperationException if the format has no consistency checks (qemu-img's exit status 63)
   */
  public static CheckReport check(BlockDevice device, ImageContext context, OpenOptions options, Repair mode,
      CheckListener listener) throws IOException {
    return check(device, context.name(), options, mode, listener);
  }

  private static CheckReport check(BlockDevice f, Path path, OpenOptions options, Repair mode, CheckListener listener)
      throws IOException {
    List<CheckProblem> problems = new ArrayList<>();
    java.util.function.Consumer<CheckProblem> sink = p -> {
      problems.add(p);
      listener.problem(p);
    };
    ImageFormat format = options.format().isPresent() ? FormatRegistry.byName(options.format().get()) : Images.probe(f);
    if (!format.supportsCheck()) {
      throw new UnsupportedOperationException("format '" + format.name()
          + "': does not support checks (expected: a format with consistency checks, such as qcow2)");
    }
    if (mode == null) {
      return new CheckReport(format.name(), format.check(f, path, sink), problems, Optional.empty());
    }
    CheckResult repaired = format.repair(f, path, mode, sink);
    CheckResult result = repaired;
    if (repaired.repairedAnything()) {
      listener.repaired(repaired);
      result = format.check(f, path, sink).withFixed(repaired.corruptionsFixed(), repaired.leaksFixed());
    }
    return new CheckReport(format.name(), result, problems, Optional.of(repaired));
  }

  /** What a snapshot operation does to an open qcow2 host file. */
  @FunctionalInterface
  private interface SnapshotOp<T> {
    T run(FileDevice file) throws IOException;
  }

  /**
   * {@code qemu-img snapshot -c NAME}: a disk-only internal snapshot of the image in {@code path}, taken now, with the
   * next free numeric ID (names need not be unique, and are cut to 255 bytes, as in QEMU). The image is opened for
   * writing under its lock; a power loss leaves the image before or after the change.
   *
   * @throws dev.vdisk.block.BlockDeviceException ENOTSUP for a format without internal snapshots (raw) or a qcow2
   *     image with an external data file
   */
  public static Snapshot createSnapshot(Path path, String name, OpenOptions options) throws IOException {
    java.time.Instant now = java.time.Instant.now();
    // qemu-img takes the time of day in microseconds.
    long nanos = now.getNano() / 1000 * 1000L;
    return onSnapshots(path, options, f -> Qcow2Format.createSnapshot(f, path, name, now.getEpochSecond(), nanos));
  }

  /**
   * {@code qemu-img snapshot -a}: reverts the image in {@code path} to snapshot {@code idOrName} (an ID first, then a
   * name), its virtual size included.
   *
   * @throws dev.vdisk.format.SnapshotNotFoundException if no snapshot matches
   * @throws dev.vdisk.block.BlockDeviceException if the image has persistent bitmaps (QEMU refuses too)
   */
  public static void applySnapshot(Path path, String idOrName, OpenOptions options) throws IOException {
    onSnapshots(path, options, f -> {
      Qcow2Format.applySnapshot(f, path, idOrName);
      return null;
    });
  }

  /**
   * {@code qemu-img snapshot -d}: deletes the first snapshot named {@code name} (by name only, as qemu-img) of the
   * image.
   */
  public static void deleteSnapshot(Path path, String name, OpenOptions options) throws IOException {
    onSnapshots(path, options, f -> {
      Qcow2Format.deleteSnapshot(f, path, name);
      return null;
    });
  }

  /**
   * {@code qemu-img snapshot -l}: the internal snapshots of the image in {@code path}, in table order (none for a
   * format without them). The image is opened read-only with {@code options}' format (or a probe) and without its
   * backing chain.
   */
  public static List<Snapshot> snapshots(Path path, OpenOptions options) throws IOException {
    OpenOptions readOnly = OpenOptions.builder().format(options.format().orElse(null)).cache(options.cache())
        .forceShare(options.forceShare()).readOnly(true).backing(false).build();
    try (Image image = open(path, readOnly)) {
      return image.snapshots();
    }
  }

  /**
   * {@code qemu-img rebase}: makes {@code backing} (recorded as given, relative to {@code path}'s directory; empty for
   * none) the backing file of the image in {@code path}, of format {@code backingFormat} (needed with a backing
   * file). Safe mode ({@code unsafe} false) first copies into the image every range it does not define whose bytes
   * differ between its current backing chain and the new one, so the guest reads the same disk before and after;
   * {@code unsafe} changes the header only ({@code -u}). The image is opened for writing under its lock with {@code
   * options}' format (or a probe) and cache mode, the new backing chain read-only. Every argument is checked before
   * the image changes.
   *
   * @param progress receives the bytes done and the total
   * @throws IllegalArgumentException if {@code options} are read-only, or {@code backingFormat} names no format
   * @throws IOException with qemu-img's message: a format that cannot record a backing file, a new backing image
   *     that cannot be opened, a backing file without a format
   */
  public static void rebase(Path path, String backing, String backingFormat, boolean unsafe, OpenOptions options,
      Progress progress) throws IOException {
    rebase(path, backing, backingFormat, unsafe, options, options.cache(), false, progress);
  }

  /**
   * {@link #rebase(Path, String, String, boolean, OpenOptions, Progress)} reading the old and the new backing chain
   * with cache mode {@code backingCache} ({@code qemu-img rebase -T}) instead of {@code options}' cache mode, and
   * with {@code forceShareBacking} ({@code -U}) opening them even while another process holds them. The image itself
   * is never opened with force-share: it is written.
   */
  public static void rebase(Path path, String backing, String backingFormat, boolean unsafe, OpenOptions options,
      CacheMode backingCache, boolean forceShareBacking, Progress progress) throws IOException {
    requireWritable(options, "a rebase");
    Rebase.run(new Rebase.Request(path, options.format().orElse(null), backing,
        backingFormat, unsafe, options.cache(), backingCache, forceShareBacking), progress);
  }

  /**
   * {@code qemu-img commit}: writes what the image in {@code path} (and every image between it and the base) defines
   * into {@code base}, an image of its backing chain named as the chain names it (null: its backing file), then
   * empties the image unless {@code drop} is set or a base is named (as qemu-img). {@code rate} limits the copy to
   * that many bytes per second (0: no limit). The image and the base are opened for writing under their locks with
   * {@code options}' format for the image (or a probe) and cache mode for both; a base that cannot be written or
   * that another process holds is refused before anything changes. A power loss leaves the image reading as before.
   *
   * @param progress receives the bytes done and the total
   * @throws IllegalArgumentException if {@code options} are read-only
   * @throws IOException with qemu-img's message: no backing file, a base not in the chain, a locked base
   */
  public static void commit(Path path, String base, boolean drop, long rate, OpenOptions options, Progress progress)
      throws IOException {
    requireWritable(options, "a commit");
    Commit.run(new Commit.Request(path, options.format().orElse(null), base, drop, rate,
        options.cache()), progress);
  }

  private static void requireWritable(OpenOptions options, String what) {
    if (options.readOnly()) {
      throw new IllegalArgumentException("read-only: true (expected: false, " + what + " writes the image)");
    }
  }

  private static <T> T onSnapshots(Path path, OpenOptions options, SnapshotOp<T> op) throws IOException {
    requireWritable(options, "a snapshot operation");
    try (FileDevice f = FileDevice.open(path, new FileOptions(options.cache(), false, options.forceShare(), true))) {
      ImageFormat format = options.format().isPresent() ? FormatRegistry.byName(options.format().get()) : Images.probe(f);
      if (!format.name().equals("qcow2")) {
        throw new BlockDeviceException(BlockError.ENOTSUP, "format '" + format.name()
            + "': has no internal snapshots (expected: qcow2)");
      }
      return op.run(f);
    }
  }

  /**
   * {@code qemu-img amend}: changes the format options {@code options} names (qemu-img's names and values, in the
   * order given; for qcow2 {@code compat}, {@code lazy_refcounts}, {@code refcount_bits}, {@code data_file},
   * {@code data_file_raw}, and {@code backing_file}/{@code backing_fmt} only to their current values) of the image
   * in {@code path}, opened for writing under its lock with {@code options}' format (or a probe) and cache mode.
   * A {@code size} entry is checked for its syntax only: resizing is {@link Image#resize}'s job. A refused option
   * leaves the image unchanged, but for the repair of a dirty image that QEMU's open (and so vdisk) makes first.
   *
   * @param progress receives the fraction done, 0 to 1
   * @param problems receives what that repair finds and fixes, as {@code qemu-img check -r} reports it
   * @throws UnsupportedOperationException if the format cannot amend
   * @throws IOException with qemu-img's message for an option the image cannot take
   */
  public static void amend(Path path, java.util.Map<String, String> amend, OpenOptions options,
      java.util.function.DoubleConsumer progress, java.util.function.Consumer<CheckProblem> problems) throws IOException {
    try (FileDevice f = FileDevice.open(path, new FileOptions(options.cache(), false, false, true))) {
      ImageFormat format = options.format().isPresent() ? FormatRegistry.byName(options.format().get()) : Images.probe(f);
      format.amend(f, path, amend, progress, problems);
      f.flush();
    }
  }

  /**
   * {@code qemu-img measure --size}: the file size a new empty image made with {@code options} needs for a disk of
   * {@code size} bytes.
   */
  public static Measurement measure(CreateOptions options, long size) throws IOException {
    return FormatRegistry.byName(options.format()).measure(options.toQemuOptions(), size, null);
  }

  /**
   * {@code qemu-img measure}: the file size a new image made with {@code options} needs to hold the contents of
   * {@code source}: the data anywhere in its backing chain (an {@link Image}'s, or the chain below the format layer
   * of another device, such as an internal snapshot's view; a device without one counts its own extents). For options parsed from qemu-img's {@code -o} strings, see
   * {@link CreateOptions#parseForMeasure}.
   *
   * @throws dev.vdisk.block.BlockDeviceException ENOTSUP for a source with persistent bitmaps (measuring them is not
   *     implemented)
   */
  public static Measurement measure(CreateOptions options, BlockDevice source) throws IOException {
    ImageChain chain = source instanceof Image image ? image.chain() : ImageChain.of(source);
    return FormatRegistry.byName(options.format()).measure(options.toQemuOptions(), 0, new ChainMeasureSource(chain));
  }

  /**
   * {@code qemu-img convert}: creates {@code target} with {@code options} at {@code source}'s size and copies the
   * guest's bytes of the whole chain into it, skipping what reads as zeroes ({@code copy} gives the workers, the
   * order, sparse detection and compression). The target is written with {@code cache=writeback} and flushed (by the copy)
   * before this returns, so the copy is durable (qemu-img's default, {@code -t unsafe}, is not).
   *
   * @throws java.nio.file.FileAlreadyExistsException if {@code target} exists
   */
  public static void convert(Image source, Path target, CreateOptions options, ConvertOptions copy, Progress progress)
      throws IOException {
    ImageFormat format = FormatRegistry.byName(options.format());
    if (copy.compressed() && !format.supportsCompression()) {
      throw new IllegalArgumentException("compressed: format '" + format.name() + "' cannot store compressed data "
          + "(expected: qcow2)");
    }
    create(target, source.size(), options, false);
    try (Image out = open(target, OpenOptions.builder().format(format.name()).cache(CacheMode.WRITEBACK).build())) {
      // A new image reads as zeroes, unless it has a backing file (qemu-img's has_zero_init).
      boolean zero = copy.sparseBytes() > 0 && !options.toQemuOptions().containsKey("backing_file");
      convert(source, source.info().filename(), out, target.toString(), copy.withTargetIsZero(zero), progress);
    }
  }

  /**
   * {@code qemu-img convert} into an open image (one just created, an existing one as with {@code -n}, one on a
   * device): copies the guest's bytes of {@code source} (an {@link Image} with its backing chain, or any device, such
   * as an internal snapshot's view) to the start of {@code target} as {@code copy} says, then flushes the target.
   * With {@link ConvertOptions#overBacking()} only what the source's top layer defines is written, over the backing
   * image of {@code target}'s chain. The names are those the error messages use. On failure the target is left
   * partly written.
   *
   * @throws IOException if the target is read-only, smaller than the source or cannot store compressed data when
   *     {@code copy} compresses, or naming the device and offset of a read or write that failed
   */
  public static void convert(BlockDevice source, String sourceName, Image target, String targetName,
      ConvertOptions copy, Progress progress) throws IOException {
    Named from = new Named(sourceName, source);
    Named to = new Named(targetName, copy.rateLimit() > 0 ? new RateLimitedWrites(target, copy.rateLimit()) : target);
    if (copy.overBacking()) {
      List<ImageChain.Layer> layers = target.chain().layers();
      Convert.runOverBacking(from, to, copy, layers.size() > 1 ? layers.get(1).device().size() : 0, progress);
    } else {
      Convert.run(from, to, copy, progress);
    }
  }

  /**
   * {@code qemu-img compare}: whether {@code a} and {@code b} (each an {@link Image} with its backing chain, or any
   * device) read the same, with qemu-img's verdicts and offsets (the first differing 512-byte sector). Ranges both
   * report as zeroes are not read. Non-strict, allocated zeroes equal unallocated ranges and a longer device's tail
   * must read as zeroes ({@link CompareResult#sizeWarning()}); {@code strict} ({@code -s}) counts different sizes
   * and different allocation status as differences. The names are those the messages use.
   *
   * @param progress receives the bytes done and the size of the longer device
   * @throws CompareException when an allocation query or a read fails (qemu-img compare's exit statuses 3 and 4)
   */
  public static CompareResult compare(BlockDevice a, String nameA, BlockDevice b, String nameB, boolean strict,
      Progress progress) throws IOException {
    return Compare.run(new Named(nameA, a), new Named(nameB, b), strict, progress);
  }
}
