package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.format.FormatRegistry;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.qcow2.Qcow2Format.Backing;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Opens backing images. A backing file name is relative to the directory of the image naming it (an absolute
 * name is kept); its format is the one the image records, or probed (with a warning) where it records none.
 * Every backing image is opened read-only and guarded by a {@link CheckedDevice}. A chain is at most
 * {@link #MAX_DEPTH} images deep and may not contain an image twice.
 */
final class BackingChain {
  /** Images in one chain at most, the top one included. */
  static final int MAX_DEPTH = 64;

  private static final System.Logger LOG = System.getLogger(BackingChain.class.getName());
  private static final int PROBE_BYTES = 4096;

  /**
   * The images open so far, top first, as real paths: the path to the image being opened.
   *
   * @param backing open the backing image of the image being opened (false: qemu-img info's BDRV_O_NO_BACKING)
   */
  record Chain(List<Path> images, boolean backing) {
    /** A chain that starts at {@code top}. */
    static Chain start(Path top) {
      return new Chain(List.of(real(top)), true);
    }

    /** {@code top} alone: its backing image, if it records one, is not opened. */
    static Chain withoutBacking(Path top) {
      return new Chain(List.of(real(top)), false);
    }

    /** This chain extended by {@code next}, refusing loops and chains deeper than {@link #MAX_DEPTH}. */
    Chain then(Path next) throws IOException {
      if (images.contains(next)) {
        throw Qcow2Errors.invalid("backing chain", describe(next) + " (a loop)", "no image appearing twice");
      }
      if (images.size() >= MAX_DEPTH) {
        throw Qcow2Errors.unsupported("backing chain depth", (images.size() + 1) + " images", "at most " + MAX_DEPTH);
      }
      List<Path> longer = new ArrayList<>(images);
      longer.add(next);
      return new Chain(List.copyOf(longer), backing);
    }

    private String describe(Path next) {
      return images.stream().map(Path::toString).collect(Collectors.joining(" -> ")) + " -> " + next;
    }

    private static Path real(Path p) {
      try {
        return p.toRealPath();
      } catch (IOException e) {
        return p.toAbsolutePath().normalize();
      }
    }
  }

  private BackingChain() {}

  /**
   * Opens the backing image {@code name} of the image at {@code imagePath}.
   *
   * @param format the format the image records for its backing file, if any
   * @param chain the images opened so far, ending with the one naming {@code name}
   * @throws IOException prefixed with the backing file's name, whatever layer of the chain failed
   */
  static Backing open(Path imagePath, String name, Optional<String> format, CacheMode cache, Chain chain, long l2CacheSize)
      throws IOException {
    try {
      return openUnlabelled(imagePath, name, format, cache, chain, l2CacheSize);
    } catch (IOException e) {
      throw new BlockDeviceException(BlockDeviceException.errorOf(e), "backing file '" + name + "': " + e.getMessage(), e);
    }
  }

  /** Where {@code name} (a backing or data file name written in the image at {@code imagePath}) points. */
  static Path resolve(Path imagePath, String name) throws IOException {
    if (name.startsWith("json:") || name.contains("://")) {
      throw Qcow2Errors.unsupported("file name", "'" + name + "'", "a local file path");
    }
    Path p;
    try {
      p = Path.of(name);
    } catch (InvalidPathException e) {
      throw Qcow2Errors.invalid("file name", "'" + name + "'", "a valid path (" + e.getReason() + ")", e);
    }
    if (p.isAbsolute()) {
      return p;
    }
    // QEMU's path_combine: relative to the directory of the image's name as given, so the combined name is the
    // full-backing-filename qemu-img prints and still opens from the current directory.
    return imagePath.resolveSibling(p);
  }

  private static Backing openUnlabelled(Path imagePath, String name, Optional<String> format, CacheMode cache, Chain chain,
      long l2CacheSize) throws IOException {
    Path path = resolve(imagePath, name);
    Path real;
    try {
      real = path.toRealPath();
    } catch (NoSuchFileException e) {
      throw Qcow2Errors.invalid("backing file", path, "an existing file", e);
    }
    Chain longer = chain.then(real);
    FileDevice file = FileDevice.open(path, new FileOptions(cache, true, false, true));
    try {
      ImageFormat fmt = format.isPresent() ? byName(format.get()) : probe(file, path);
      boolean probed = format.isEmpty();
      BlockDevice device = fmt instanceof Qcow2Format
          ? Qcow2Opener.open(file, longer, l2CacheSize)
          : fmt.open(file, probed);
      return new Backing(name, path, fmt.name(), probed, new CheckedDevice(device, true), file);
    } catch (IOException | RuntimeException e) {
      file.close();
      throw e;
    }
  }

  private static ImageFormat byName(String format) throws IOException {
    try {
      return FormatRegistry.byName(format);
    } catch (IllegalArgumentException e) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "backing " + e.getMessage(), e);
    }
  }

  private static ImageFormat probe(FileDevice file, Path path) throws IOException {
    ByteBuffer head = new HostReader(file, "backing file").readMetadata("backing file header", 0,
        (int) Math.min(PROBE_BYTES, file.size()));
    ImageFormat fmt = FormatRegistry.probeNonRaw(head).orElse(FormatRegistry.byName("raw"));
    LOG.log(System.Logger.Level.WARNING,
        "qcow2: backing file {0} has no recorded format; probed as {1} (record it: qemu-img rebase -u -F {1} ...)",
        path, fmt.name());
    return fmt;
  }
}
