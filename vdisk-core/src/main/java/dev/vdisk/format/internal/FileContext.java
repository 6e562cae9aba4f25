package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.format.Backing;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The context of an image in a host file: a backing file name is relative to the directory of the image's name (an
 * absolute name is kept), as QEMU's {@code path_combine} resolves it, and an external data file name is taken as
 * given (a relative one from the current directory), as QEMU 7.2 opens it; a backing file's format is the one the image
 * records, or probed (with a warning) where it records none. Every backing image is opened read-only with this
 * open's cache mode and guarded by a {@link CheckedDevice}; a data file is opened with this open's options. A chain
 * is at most {@link #MAX_DEPTH} images deep and may not contain an image twice.
 */
public final class FileContext implements ImageContext {
  /** Images in one chain at most, the top one included. */
  public static final int MAX_DEPTH = 64;

  /**
   * The logger, looked up when there is something to say: the first {@code System.getLogger} searches the class path
   * for a logger service (opening and indexing the jar) and starts java.util.logging, which a command that logs
   * nothing should not pay for.
   */
  private static System.Logger log() {
    return System.getLogger(FileContext.class.getName());
  }

  private final Path name;
  private final FileOptions options;
  /** The images open so far, top first, as real paths, ending with this one. */
  private final List<Path> chain;
  /** Backing images are opened (false: BDRV_O_NO_BACKING). */
  private final boolean backing;
  /** The external data file is opened (false: qemu-img info's BDRV_O_NO_IO, a stand-in that refuses I/O). */
  private final boolean dataFile;
  /** Images already open that stand in for the file at their real path where the chain reaches it; or null. */
  private final Map<Path, Backing> reuse;
  /** The password of this image (not of its backing images), or null. */
  private final byte[] encryptionKey;

  private FileContext(Path name, FileOptions options, List<Path> chain, boolean backing, boolean dataFile,
      Map<Path, Backing> reuse) {
    this(name, options, chain, backing, dataFile, reuse, null);
  }

  private FileContext(Path name, FileOptions options, List<Path> chain, boolean backing, boolean dataFile,
      Map<Path, Backing> reuse, byte[] encryptionKey) {
    this.name = name;
    this.options = options;
    this.chain = List.copyOf(chain);
    this.backing = backing;
    this.dataFile = dataFile;
    this.reuse = reuse;
    this.encryptionKey = encryptionKey;
  }

  /** This context with {@code key} (null for none) as the image's password; backing images get none. */
  public FileContext withEncryptionKey(byte[] key) {
    return new FileContext(name, options, chain, backing, dataFile, reuse, key);
  }

  @Override
  public Optional<byte[]> encryptionKey() {
    return Optional.ofNullable(encryptionKey);
  }

  /** The context of the top image of a chain, in the file named {@code name}, opened with {@code options}. */
  public static FileContext of(Path name, FileOptions options) {
    return new FileContext(name, options, List.of(real(name)), true, true, null);
  }

  /**
   * This context, except that where the chain reaches the file that {@code image} was opened from (the same real
   * path), {@code image} stands in for it instead of a new read-only open: how qemu-img commit writes into a base
   * that the chain above reads. The overlay that reaches it owns {@code image} from then on and closes it.
   */
  public FileContext reusing(Backing image) throws IOException {
    return new FileContext(name, options, chain, backing, dataFile, Map.of(image.path().toRealPath(), image),
        encryptionKey);
  }

  /**
   * The context of an image opened without its backing file (QEMU's BDRV_O_NO_BACKING, as qemu-img rebase -u opens
   * one): a backing file it records is not opened, so a missing one does not stop the open.
   */
  public static FileContext withoutBacking(Path name, FileOptions options) {
    return new FileContext(name, options, List.of(real(name)), false, true, null);
  }

  /**
   * The context of an image opened for its own facts, as qemu-img info opens one (BDRV_O_NO_BACKING and
   * BDRV_O_NO_IO): neither its backing file nor its external data file is opened, so a missing one does not stop the
   * open; the data file's stand-in refuses I/O.
   */
  public static FileContext forFacts(Path name, FileOptions options) {
    return new FileContext(name, options, List.of(real(name)), false, false, null);
  }

  /** Backing images are opened (not for {@link #withoutBacking} and {@link #forFacts}). */
  boolean opensBacking() {
    return backing;
  }

  @Override
  public Path name() {
    return name;
  }

  @Override
  public boolean readOnly() {
    return options.readOnly();
  }

  /** True for a context {@link #forFacts}. */
  @Override
  public boolean factsOnly() {
    return !dataFile;
  }

  /** The options the image's file was opened with. */
  public FileOptions options() {
    return options;
  }

  /** The data file; for a context {@link #forFacts}, a stand-in that refuses I/O, as qemu-img info opens none. */
  @Override
  public BlockDevice openDataFile(String file) throws IOException {
    Path path = ImageContext.resolveDataFile(file);
    if (!dataFile) {
      return new UnopenedDataFile(path);
    }
    try {
      return FileDevice.open(path, options);
    } catch (NoSuchFileException e) {
      throw invalid("external data file", path, "an existing file", e);
    }
  }

  /** The backing image, or empty for a context {@link #withoutBacking}. */
  @Override
  public Optional<Backing> openBacking(String file, Optional<String> format) throws IOException {
    if (!backing) {
      return Optional.empty();
    }
    try {
      return Optional.of(openUnlabelled(file, format));
    } catch (IOException e) {
      throw new BlockDeviceException(BlockDeviceException.errorOf(e), "backing file '" + file + "': " + e.getMessage(), e);
    }
  }

  private Backing openUnlabelled(String file, Optional<String> format) throws IOException {
    if (RbdImages.isRbd(file)) {
      return RbdImages.openBacking(file, format, options.cache(), chain.size());
    }
    Path path = ImageContext.resolve(name, file);
    Path real;
    try {
      real = path.toRealPath();
    } catch (NoSuchFileException e) {
      throw invalid("backing file", path, "an existing file", e);
    }
    FileContext below = then(path, real);
    if (reuse != null && reuse.containsKey(real)) {
      Backing open = reuse.get(real);
      return new Backing(file, path, open.format(), open.formatProbed(), open.device(), open.file());
    }
    FileDevice device = FileDevice.open(path, new FileOptions(options.cache(), true, false, true).withAio(options.aio()));
    try {
      ImageFormat fmt = format.isPresent() ? byName(format.get()) : probe(device, path);
      BlockDevice image = fmt.open(device, below, format.isEmpty());
      return new Backing(file, path, fmt.name(), format.isEmpty(), new CheckedDevice(image, true), device);
    } catch (IOException | RuntimeException e) {
      device.close();
      throw e;
    }
  }

  /** The context of the backing image at {@code path}, refusing loops and chains deeper than {@link #MAX_DEPTH}. */
  private FileContext then(Path path, Path real) throws IOException {
    if (chain.contains(real)) {
      throw invalid("backing chain", chain.stream().map(Path::toString).collect(Collectors.joining(" -> ")) + " -> "
          + real + " (a loop)", "no image appearing twice", null);
    }
    if (chain.size() >= MAX_DEPTH) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "backing chain depth: " + (chain.size() + 1)
          + " images (expected: at most " + MAX_DEPTH + ")");
    }
    List<Path> longer = new ArrayList<>(chain);
    longer.add(real);
    return new FileContext(path, new FileOptions(options.cache(), true, false, true).withAio(options.aio()), longer, true,
        true, reuse);
  }

  private static ImageFormat byName(String format) throws IOException {
    try {
      return FormatRegistry.byName(format);
    } catch (IllegalArgumentException e) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "backing " + e.getMessage(), e);
    }
  }

  private static ImageFormat probe(FileDevice file, Path path) throws IOException {
    ImageFormat fmt = Images.probe(file);
    log().log(System.Logger.Level.WARNING,
        "backing file {0} has no recorded format; probed as {1} (record it: qemu-img rebase -u -F {1} ...)",
        path, fmt.name());
    return fmt;
  }

  private static Path real(Path p) {
    try {
      return p.toRealPath();
    } catch (IOException e) {
      return p.toAbsolutePath().normalize();
    }
  }

  private static BlockDeviceException invalid(String what, Object value, String expected, Throwable cause) {
    return new BlockDeviceException(BlockError.EINVAL, what + ": " + value + " (expected: " + expected + ")", cause);
  }
}
